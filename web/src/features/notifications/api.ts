import { request } from '../../api/client'
import type { Preferences } from '../../api/types'

export const notificationsApi = {
  preferences: () => request<Preferences>('GET', '/api/notifications/preferences'),
  putPreferences: (p: Preferences) => request<Preferences>('PUT', '/api/notifications/preferences', p),
}

/** The cache keys of notification data. */
export const notificationsKeys = {
  preferences: ['notifications', 'preferences'] as const,
}
