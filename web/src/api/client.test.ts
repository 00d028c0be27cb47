import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { authApi } from '../features/auth/api'
import { dashboardApi } from '../features/dashboard/api'
import { ticketsApi } from '../features/tickets/api'
import { triageApi } from '../features/triage/api'
import { buildQuery, fetchAll, onUnauthorized, request, setToken } from './client'
import { ApiError } from './errors'

// the HTTP layer through the feature modules' real routes
const api = { ...authApi, ...dashboardApi, ...ticketsApi, ...triageApi }

class MemoryStorage {
  private m = new Map<string, string>()
  getItem(k: string) { return this.m.has(k) ? this.m.get(k)! : null }
  setItem(k: string, v: string) { this.m.set(k, v) }
  removeItem(k: string) { this.m.delete(k) }
}

function respond(status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  return vi.fn(async () => new Response(status === 204 ? null : text, { status, headers }))
}

beforeEach(() => {
  vi.stubGlobal('localStorage', new MemoryStorage())
})
afterEach(() => {
  vi.unstubAllGlobals()
  onUnauthorized(null)
})

describe('buildQuery', () => {
  it('drops empty values and false flags, keeps true and numbers', () => {
    expect(buildQuery({ status: '', priority: 'high', overdue: false, limit: 50, cursor: null, q: 'a b' })).toBe('?priority=high&limit=50&q=a+b')
    expect(buildQuery({ overdue: true })).toBe('?overdue=true')
    expect(buildQuery({})).toBe('')
  })
})

describe('request', () => {
  it('sends the bearer token and JSON, and parses the answer', async () => {
    setToken('tok')
    const fetch = respond(200, { items: [], next_cursor: null })
    vi.stubGlobal('fetch', fetch)
    await expect(api.tickets({ assigned_to: 'me', status: 'open' })).resolves.toEqual({ items: [], next_cursor: null })
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/tickets?limit=50&assigned_to=me&status=open')
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer tok')
  })

  it('sends the verification link token without the session token, and a 401 there keeps the session', async () => {
    setToken('tok')
    let ended = false
    onUnauthorized(() => { ended = true })
    const fetch = respond(200, { id: 'u1', email: 'a@b.test', email_verified: true })
    vi.stubGlobal('fetch', fetch)
    await expect(api.verifyEmail({ token: 'link.token' })).resolves.toMatchObject({ email_verified: true })
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/auth/verify')
    expect(init.method).toBe('POST')
    expect(JSON.parse(String(init.body))).toEqual({ token: 'link.token' })
    expect((init.headers as Record<string, string>).Authorization).toBeUndefined()
    vi.stubGlobal('fetch', respond(400, { title: 'Bad Request', status: 400, detail: 'This link is invalid or has expired.' }))
    const err = await api.verifyEmail({ token: 'old' }).catch((e) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err.status).toBe(400)
    expect(ended).toBe(false)
  })

  it('asks the server for the dashboard figures of a range', async () => {
    setToken('tok')
    const fetch = respond(200, { scope: 'all', created: 3 })
    vi.stubGlobal('fetch', fetch)
    await expect(api.stats({ from: '2026-03-01', to: '2026-03-30' })).resolves.toEqual({ scope: 'all', created: 3 })
    await api.stats()
    const urls = fetch.mock.calls.map((call) => (call as unknown as [string])[0])
    expect(urls).toEqual(['/api/stats?from=2026-03-01&to=2026-03-30', '/api/stats'])
  })

  it('turns problem+json into an ApiError with field errors', async () => {
    vi.stubGlobal('fetch', respond(422, { title: 'Validation failed', status: 422, errors: [{ loc: ['body', 'title'], msg: 'too short' }] }, { 'Content-Type': 'application/problem+json' }))
    const err = await api.createTicket({ title: 'x', description: 'y' }).catch((e) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err.status).toBe(422)
    expect(err.fieldErrors()).toEqual({ title: 'too short' })
  })

  it('sends the Idempotency-Key of a ticket creation, and none without one', async () => {
    setToken('tok')
    const fetch = respond(201, { id: 't1' })
    vi.stubGlobal('fetch', fetch)
    await api.createTicket({ title: 'Printer', description: 'On fire' }, 'key-1')
    await api.createTicket({ title: 'Printer', description: 'On fire' })
    const sent = fetch.mock.calls.map((call) => (call as unknown as [string, RequestInit])[1].headers as Record<string, string>)
    expect(sent[0]['Idempotency-Key']).toBe('key-1')
    expect(sent[0].Authorization).toBe('Bearer tok')
    expect('Idempotency-Key' in sent[1]).toBe(false)
  })

  it('reports Retry-After on 429', async () => {
    vi.stubGlobal('fetch', respond(429, { title: 'Too many attempts' }, { 'Retry-After': '42' }))
    const err = await api.login({ email: 'a@b.co', password: 'x' }).catch((e) => e)
    expect(err.retryAfter).toBe(42)
  })

  it('ends the session on a 401 only when a token was sent', async () => {
    const listener = vi.fn()
    onUnauthorized(listener)
    vi.stubGlobal('fetch', respond(401, { title: 'Invalid credentials' }))
    await api.login({ email: 'a@b.co', password: 'x' }).catch(() => null)
    expect(listener).not.toHaveBeenCalled()
    setToken('expired')
    await api.me().catch(() => null)
    expect(listener).toHaveBeenCalledTimes(1)
  })

  it('maps a network failure to status 0 and handles empty 202 bodies', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch') }))
    const err = (await request('GET', '/api/x').catch((e: unknown) => e)) as ApiError
    expect(err).toBeInstanceOf(ApiError)
    expect(err.status).toBe(0)
    vi.stubGlobal('fetch', respond(202, ''))
    await expect(api.retrain()).resolves.toBeUndefined()
  })

  it('accepts comments as a bare list or as a page', async () => {
    vi.stubGlobal('fetch', respond(200, [{ id: '1' }]))
    expect(await api.comments('t')).toEqual([{ id: '1' }])
    vi.stubGlobal('fetch', respond(200, { items: [{ id: '2' }], next_cursor: null }))
    expect(await api.comments('t')).toEqual([{ id: '2' }])
  })
})

describe('fetchAll', () => {
  it('follows next_cursor until the end', async () => {
    const pages: Record<string, { items: number[]; next_cursor: string | null }> = {
      start: { items: [1, 2], next_cursor: 'b' },
      b: { items: [3], next_cursor: null },
    }
    const seen: (string | null)[] = []
    const r = await fetchAll(async (c) => { seen.push(c); return pages[c ?? 'start'] })
    expect(r).toEqual({ items: [1, 2, 3], truncated: false })
    expect(seen).toEqual([null, 'b'])
  })
  it('stops at maxItems and says so', async () => {
    const r = await fetchAll(async (c) => ({ items: [Number(c ?? 0)], next_cursor: String(Number(c ?? 0) + 1) }), 3)
    expect(r).toEqual({ items: [0, 1, 2], truncated: true })
  })
})

describe('attachments', () => {
  it('lists them and downloads one with the token (a problem becomes an ApiError)', async () => {
    setToken('tok')
    const item = { id: 'a1', filename: 'vpn.log', content_type: 'text/plain', size: 9, comment_id: null, created_at: '2026-01-01T00:00:00Z' }
    vi.stubGlobal('fetch', respond(200, { items: [item] }))
    await expect(api.attachments('t 1')).resolves.toEqual([item])
    const bytes = vi.fn(async () => new Response('log line\n', { status: 200 }))
    vi.stubGlobal('fetch', bytes)
    await expect((await api.attachmentBlob('t1', 'a1')).text()).resolves.toBe('log line\n')
    const [url, init] = bytes.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/tickets/t1/attachments/a1')
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer tok')
    vi.stubGlobal('fetch', respond(404, { title: 'Not Found', status: 404, detail: 'attachment not found' }))
    await expect(api.attachmentBlob('t1', 'zz')).rejects.toBeInstanceOf(ApiError)
  })
})

describe('setPassword', () => {
  it('posts the mailed token without any bearer token', async () => {
    setToken('stale')
    const fetch = respond(200, { token: 't', token_type: 'bearer', expires_in: 900, user: { id: 'u' } })
    vi.stubGlobal('fetch', fetch)
    await api.setPassword({ token: 'link-token', password: 'long-enough-1' })
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('/api/auth/set-password')
    expect(JSON.parse(String(init.body))).toEqual({ token: 'link-token', password: 'long-enough-1' })
    expect((init.headers as Record<string, string>).Authorization).toBeUndefined()
  })
})
