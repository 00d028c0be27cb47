import { buildQuery, request } from '../../api/client'
import type { Schemas, Stats } from '../../api/types'

export type DeadLetterOwner = 'tickets' | 'triage' | 'notifier'

export const dashboardApi = {
  /** Dashboard figures computed by the server over a range of UTC days (YYYY-MM-DD, both included). */
  stats: (range: { from?: string; to?: string } = {}) => request<Stats>('GET', `/api/stats${buildQuery(range)}`),
  /** Admins only: how many dead letters a service holds open (its `open` count). */
  deadLetters: (service: DeadLetterOwner) =>
    request<Schemas['DeadLetterPage']>('GET', `/api/dead-letters/${service}${buildQuery({ limit: 1 })}`),
}

/** The cache keys of dashboard data. */
export const dashboardKeys = {
  stats: (days: number) => ['dashboard', 'stats', days] as const,
  deadLetters: ['dashboard', 'dead-letters'] as const,
}
