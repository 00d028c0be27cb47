/** The one HTTP layer: every feature's `api.ts` calls `request` (token, JSON, problem+json errors). */
import { ApiError, networkError, parseProblem } from './errors'
import type { Page } from './types'

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

/** The bytes of a route that needs the token (an attachment): no plain link can carry it. */
export async function requestBlob(path: string): Promise<Blob> {
  const token = getToken()
  const res = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} })
  if (!res.ok) throw parseProblem(res.status, await res.text(), res.headers.get('Retry-After'))
  return res.blob()
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
