import { ApiError, networkError, parseProblem } from './errors'
import type {
  Attachment,
  AuthResponse,
  Category,
  Comment,
  Decision,
  Example,
  ModelStatus,
  Page,
  Preferences,
  Role,
  Stats,
  Ticket,
  TicketFilters,
  User,
} from './types'

const TOKEN_KEY = 'helpdesk.token'

type Listener = () => void
let unauthorizedListener: Listener | null = null

export function getToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
}

export function setToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token)
    else localStorage.removeItem(TOKEN_KEY)
  } catch {
    /* storage unavailable (private mode): the session lasts until reload */
  }
}

/** Called when an authenticated request answers 401 (expired or revoked token). */
export function onUnauthorized(listener: Listener | null): void {
  unauthorizedListener = listener
}

export function buildQuery(params: Record<string, string | number | boolean | null | undefined>): string {
  const sp = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '' || v === false) continue
    sp.set(k, String(v))
  }
  const s = sp.toString()
  return s ? `?${s}` : ''
}

export async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  opts: { auth?: boolean; headers?: Record<string, string> } = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json, application/problem+json', ...opts.headers }
  const token = opts.auth === false ? null : getToken()
  if (token) headers.Authorization = `Bearer ${token}`
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  let res: Response
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  } catch {
    throw networkError()
  }
  const text = await res.text()
  if (!res.ok) {
    const err = parseProblem(res.status, text, res.headers.get('Retry-After'))
    if (res.status === 401 && token && unauthorizedListener) unauthorizedListener()
    throw err
  }
  if (!text) return undefined as T
  try {
    return JSON.parse(text) as T
  } catch {
    throw new ApiError({ status: res.status, title: 'Unexpected response', detail: 'The server sent something that is not JSON.' })
  }
}

export const api = {
  signup: (body: { email: string; password: string; name?: string }) =>
    request<AuthResponse>('POST', '/api/auth/signup', body, { auth: false }),
  login: (body: { email: string; password: string }) =>
    request<AuthResponse>('POST', '/api/auth/login', body, { auth: false }),
  /** The first password of an account opened by mail (the welcome mail's one-use link). */
  setPassword: (body: { token: string; password: string }) =>
    request<AuthResponse>('POST', '/api/auth/set-password', body, { auth: false }),
  /** The link of the verification mail: marks the address verified (no sign-in needed). */
  verifyEmail: (body: { token: string }) =>
    request<User>('POST', '/api/auth/verify', body, { auth: false }),
  /** Mail the caller's verification link again (a few times an hour; 409 once verified). */
  resendVerification: () => request<{ sent: boolean }>('POST', '/api/auth/resend-verification'),
  me: () => request<User>('GET', '/api/auth/me'),
  users: (params: { q?: string; role?: Role | ''; cursor?: string | null; limit?: number }) =>
    request<Page<User>>('GET', `/api/auth/users${buildQuery({ limit: 50, ...params })}`),
  updateUser: (body: { email: string; role?: Role; skills?: string[] }) =>
    request<User>('POST', '/api/auth/update-user', body),

  tickets: (filters: TicketFilters & { cursor?: string | null; limit?: number }) =>
    request<Page<Ticket>>('GET', `/api/tickets${buildQuery({ limit: 50, ...filters })}`),
  ticket: (id: string) => request<Ticket>('GET', `/api/tickets/${encodeURIComponent(id)}`),
  /** `idempotencyKey`: the same for every retry of one ticket, so a retry after a lost answer
   * returns the ticket the first attempt made instead of opening a second. */
  createTicket: (body: { title: string; description: string }, idempotencyKey?: string) =>
    request<Ticket>('POST', '/api/tickets', body, idempotencyKey ? { headers: { 'Idempotency-Key': idempotencyKey } } : {}),
  updateTicket: (id: string, body: Partial<Pick<Ticket, 'status' | 'priority' | 'category'>> & { assigned_to?: string }) =>
    request<Ticket>('PATCH', `/api/tickets/${encodeURIComponent(id)}`, body),
  comments: async (id: string): Promise<Comment[]> => {
    const { items } = await fetchAll<Comment>(async (cursor) => {
      const res = await request<Comment[] | Page<Comment>>('GET', `/api/tickets/${encodeURIComponent(id)}/comments${buildQuery({ limit: 100, cursor })}`)
      return Array.isArray(res) ? { items: res, next_cursor: null } : { items: res?.items ?? [], next_cursor: res?.next_cursor ?? null }
    }, 2000)
    return items
  },
  decisions: (ticketId: string) =>
    request<Page<Decision>>('GET', `/api/triage/decisions${buildQuery({ ticket_id: ticketId, limit: 20 })}`),
  attachments: async (id: string): Promise<Attachment[]> =>
    (await request<{ items: Attachment[] }>('GET', `/api/tickets/${encodeURIComponent(id)}/attachments`)).items,
  /** The bytes of one attachment (the route needs the token, so no plain link). */
  attachmentBlob: async (ticketId: string, attachmentId: string): Promise<Blob> => {
    const token = getToken()
    const res = await fetch(
      `/api/tickets/${encodeURIComponent(ticketId)}/attachments/${encodeURIComponent(attachmentId)}`,
      { headers: token ? { Authorization: `Bearer ${token}` } : {} },
    )
    if (!res.ok) throw parseProblem(res.status, await res.text(), res.headers.get('Retry-After'))
    return res.blob()
  },
  addComment: (id: string, body: { body: string; internal: boolean }) =>
    request<Comment>('POST', `/api/tickets/${encodeURIComponent(id)}/comments`, body),
  retriage: (id: string) => request<unknown>('POST', `/api/tickets/${encodeURIComponent(id)}/retriage`),

  categories: () => request<{ categories: Category[] }>('GET', '/api/triage/categories'),
  putCategories: (categories: Category[]) => request<{ categories: Category[] }>('PUT', '/api/triage/categories', { categories }),
  importExamples: (examples: Example[]) => request<{ accepted: number }>('POST', '/api/triage/examples', { examples }),
  retrain: () => request<unknown>('POST', '/api/triage/retrain'),
  model: () => request<ModelStatus>('GET', '/api/triage/model'),

  /** Dashboard figures computed by the server over a range of UTC days (YYYY-MM-DD, both included). */
  stats: (range: { from?: string; to?: string } = {}) => request<Stats>('GET', `/api/stats${buildQuery(range)}`),

  /** Admins only: how many dead letters a service holds open (its `open` count). */
  deadLetters: (service: 'tickets' | 'triage' | 'notifier') =>
    request<{ items: unknown[]; open: number }>('GET', `/api/dead-letters/${service}${buildQuery({ limit: 1 })}`),

  preferences: () => request<Preferences>('GET', '/api/notifications/preferences'),
  putPreferences: (p: Preferences) => request<Preferences>('PUT', '/api/notifications/preferences', p),
}

/** Reads every page of a listing (up to maxItems). */
export async function fetchAll<T>(
  fetchPage: (cursor: string | null) => Promise<Page<T>>,
  maxItems = 5000,
  onProgress?: (n: number) => void,
): Promise<{ items: T[]; truncated: boolean }> {
  const items: T[] = []
  let cursor: string | null = null
  for (;;) {
    const page: Page<T> = await fetchPage(cursor)
    items.push(...page.items)
    onProgress?.(items.length)
    if (!page.next_cursor) return { items, truncated: false }
    if (items.length >= maxItems) return { items, truncated: true }
    cursor = page.next_cursor
  }
}
