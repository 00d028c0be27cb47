import { buildQuery, request } from '../../api/client'
import type { Role, Schemas, User } from '../../api/types'

export const usersApi = {
  users: (params: { q?: string; role?: Role | ''; cursor?: string | null; limit?: number }) =>
    request<Schemas['UserPage']>('GET', `/api/auth/users${buildQuery({ limit: 50, ...params })}`),
  updateUser: (body: Schemas['UpdateUserIn']) => request<User>('POST', '/api/auth/update-user', body),
  /** Moderators and admins: whom a ticket can be assigned to. */
  staff: async (): Promise<User[]> => {
    const [m, a] = await Promise.all([usersApi.users({ role: 'moderator', limit: 100 }), usersApi.users({ role: 'admin', limit: 100 })])
    return [...m.items, ...a.items]
  },
}

/** The cache keys of user data. */
export const usersKeys = {
  list: (query: { q?: string; role?: Role | '' }) => ['users', 'list', query] as const,
  staff: ['users', 'staff'] as const,
}
