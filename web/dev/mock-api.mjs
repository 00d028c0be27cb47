// A throwaway in-memory stand-in for the gateway, for UI work while the real backend is not running.
// It follows /work/shared/design/API.md loosely; the e2e tests run against the real gateway, never this.
// Usage: npm run build && node dev/mock-api.mjs [port]   (admin: admin@example.com / admin-password)
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { randomUUID } from 'node:crypto'
import { extname, join } from 'node:path'

const PORT = Number(process.argv[2] ?? process.env.PORT ?? 8000)
const DIST = new URL('../dist/', import.meta.url).pathname
const TOKEN_TTL = Number(process.env.MOCK_TOKEN_TTL ?? 900)
const users = new Map() // email -> user + password
const tickets = []
const comments = new Map()
let categories = [
  { name: 'Billing and Payments', description: 'invoices, refunds, charges' },
  { name: 'Account Access', description: 'login, password, 2FA' },
  { name: 'Technical Issue', description: 'bugs, errors, crashes' },
  { name: 'Other', description: 'anything else' },
]
let model = { version: 1, trained_at: new Date().toISOString(), examples: 120, metrics: { category_accuracy: 0.82, priority_accuracy: 0.71 } }
const prefs = new Map()
const now = () => new Date().toISOString()

function addUser(email, password, name, role = 'user', skills = []) {
  const u = { id: randomUUID(), email, name, role, skills, created_at: now(), password }
  users.set(email, u)
  return u
}
addUser('admin@example.com', 'admin-password', 'Ada Admin', 'admin')

const pub = (u) => ({ id: u.id, email: u.email, name: u.name, role: u.role, skills: u.skills, created_at: u.created_at })
const ref = (u) => (u ? { id: u.id, name: u.name, email: u.email } : null)
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url')
function token(u) {
  const iat = Math.floor(Date.now() / 1000)
  return `${b64({ alg: 'EdDSA', typ: 'JWT' })}.${b64({ sub: u.id, role: u.role, email: u.email, name: u.name, iat, exp: iat + TOKEN_TTL, iss: 'helpdesk-auth', aud: 'helpdesk', jti: randomUUID() })}.mock`
}
function whoami(req) {
  const h = req.headers.authorization ?? ''
  if (!h.startsWith('Bearer ')) return null
  try {
    const c = JSON.parse(Buffer.from(h.slice(7).split('.')[1], 'base64url').toString())
    if (c.exp * 1000 < Date.now()) return null
    const u = [...users.values()].find((x) => x.id === c.sub)
    return u ? { ...u, role: c.role } : null
  } catch { return null }
}
function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers })
  res.end(body === undefined ? '' : JSON.stringify(body))
}
function problem(res, status, title, detail, errors) {
  res.writeHead(status, { 'Content-Type': 'application/problem+json' })
  res.end(JSON.stringify({ type: 'about:blank', title, status, detail, ...(errors ? { errors } : {}) }))
}
const DUE_H = { high: 4, medium: 24, low: 72 }

function triage(t) {
  setTimeout(() => {
    const text = `${t.title} ${t.description}`.toLowerCase()
    let category = 'Other', skills = ['general'], priority = 'low'
    if (/refund|invoice|charge|billing|payment/.test(text)) { category = 'Billing and Payments'; skills = ['billing', 'payments']; priority = 'high' }
    else if (/login|password|2fa|locked/.test(text)) { category = 'Account Access'; skills = ['accounts']; priority = 'medium' }
    else if (/error|crash|bug|broken/.test(text)) { category = 'Technical Issue'; skills = ['technical']; priority = 'medium' }
    const mods = [...users.values()].filter((u) => u.role === 'moderator')
    const load = (u) => tickets.filter((x) => x.assigned_to?.id === u.id && (x.status === 'open' || x.status === 'in_progress')).length
    const scored = mods.map((m) => ({ m, score: m.skills.filter((s) => skills.includes(s.toLowerCase())).length })).filter((x) => x.score > 0)
      .sort((a, b) => b.score - a.score || load(a.m) - load(b.m))
    let assignee = scored[0]?.m, reason
    if (assignee) reason = `Skills match (${assignee.skills.filter((s) => skills.includes(s.toLowerCase())).join(', ')}); ${load(assignee)} open tickets.`
    else { assignee = [...users.values()].filter((u) => u.role === 'admin').sort((a, b) => load(a) - load(b))[0]; reason = 'No moderator with matching skills; least loaded admin.' }
    Object.assign(t, {
      category, priority, related_skills: skills, assigned_to: ref(assignee), updated_at: now(),
      due_at: new Date(Date.parse(t.created_at) + DUE_H[priority] * 3600e3).toISOString(),
      helpful_notes: `Check the customer's recent ${category.toLowerCase()} history.\nAsk for screenshots if unclear.`,
      triage: { state: 'done', summary: `Customer reports: ${t.title}`, provider: 'local', model: 'mock-nb', confidence: 0.78, assignment_reason: reason, triaged_at: now() },
    })
  }, 2500)
}

function view(t, me) {
  const staff = me.role === 'admin' || t.assigned_to?.id === me.id
  if (staff) return t
  const { helpful_notes, related_skills, ...rest } = t
  void helpful_notes; void related_skills
  return { ...rest, triage: { state: t.triage.state } }
}
const canSee = (t, me) => me.role === 'admin' || t.created_by.id === me.id || t.assigned_to?.id === me.id

async function body(req) {
  let s = ''
  for await (const c of req) s += c
  try { return s ? JSON.parse(s) : {} } catch { return null }
}
function page(items, url) {
  const limit = Math.min(100, Number(url.searchParams.get('limit') ?? 50))
  const start = Number(url.searchParams.get('cursor') ?? 0)
  const slice = items.slice(start, start + limit)
  return { items: slice, next_cursor: start + limit < items.length ? String(start + limit) : null }
}

/** GET /api/stats, roughly as the tickets service computes it (no percentiles' interpolation). */
function stats(res, me, url) {
  if (me.role === 'user') return problem(res, 403, 'Forbidden', 'Your role may not use this route.')
  const day = (ms) => new Date(ms).toISOString().slice(0, 10)
  const to = url.searchParams.get('to') ?? day(Date.now())
  const from = url.searchParams.get('from') ?? day(Date.parse(to) - 29 * 86_400_000)
  const mine = tickets.filter((t) => me.role === 'admin' || t.assigned_to?.id === me.id)
  const inRange = mine.filter((t) => t.created_at.slice(0, 10) >= from && t.created_at.slice(0, 10) <= to)
  const count = (items, key) => items.reduce((acc, t) => { const k = key(t); acc[k] = (acc[k] ?? 0) + 1; return acc }, {})
  const p = (values, q) => { const v = [...values].sort((a, b) => a - b); return v.length ? v[Math.min(v.length - 1, Math.floor(q * v.length))] : null }
  const triaged = inRange.filter((t) => t.triage.triaged_at).map((t) => (Date.parse(t.triage.triaged_at) - Date.parse(t.created_at)) / 1000)
  const done = inRange.filter((t) => ['resolved', 'closed'].includes(t.status)).map((t) => (Date.parse(t.updated_at) - Date.parse(t.created_at)) / 1000)
  const active = mine.filter((t) => ['open', 'in_progress'].includes(t.status))
  const overdue = active.filter((t) => t.due_at && Date.parse(t.due_at) < Date.now())
  const perDay = []
  for (let ms = Date.parse(from); day(ms) <= to; ms += 86_400_000) perDay.push({ day: day(ms), count: inRange.filter((t) => t.created_at.startsWith(day(ms))).length })
  const load = new Map()
  for (const t of active.filter((x) => x.assigned_to)) {
    const l = load.get(t.assigned_to.id) ?? { ...t.assigned_to, open: 0, in_progress: 0, overdue: 0 }
    l[t.status]++
    if (overdue.includes(t)) l.overdue++
    load.set(t.assigned_to.id, l)
  }
  const cats = count(inRange, (t) => t.category ?? '')
  return send(res, 200, {
    scope: me.role === 'admin' ? 'all' : 'assigned_to_me', from, to, generated_at: now(), created: inRange.length, per_day: perDay,
    by_status: { open: 0, in_progress: 0, resolved: 0, closed: 0, ...count(inRange, (t) => t.status) },
    by_priority: { high: 0, medium: 0, low: 0, none: 0, ...count(inRange, (t) => t.priority ?? 'none') },
    by_category: Object.entries(cats).sort((a, b) => b[1] - a[1]).map(([c, n]) => ({ category: c || null, count: n })),
    time_to_triage: { count: triaged.length, p50_seconds: p(triaged, 0.5), p90_seconds: p(triaged, 0.9) },
    time_to_resolve: { count: done.length, p50_seconds: p(done, 0.5), p90_seconds: p(done, 0.9) },
    open: { open: active.filter((t) => t.status === 'open').length, in_progress: active.filter((t) => t.status === 'in_progress').length },
    overdue: { total: overdue.length, by_priority: { high: 0, medium: 0, low: 0, none: 0, ...count(overdue, (t) => t.priority ?? 'none') } },
    load: [...load.values()].sort((a, b) => b.open + b.in_progress - a.open - a.in_progress),
    triage: { ...{ pending: 0, waiting: 0, failed: 0 }, ...count(mine.filter((t) => t.triage.state !== 'done'), (t) => t.triage.state), oldest_waiting_at: null },
    dead_letters: me.role === 'admin' ? { open: 0 } : null,
  })
}

async function api(req, res, url) {
  const p = url.pathname, m = req.method
  if (p === '/api/auth/signup' && m === 'POST') {
    const b = await body(req)
    const extra = Object.keys(b ?? {}).filter((k) => !['email', 'password', 'name'].includes(k))
    if (extra.length) return problem(res, 422, 'Validation failed', null, extra.map((k) => ({ loc: ['body', k], msg: 'Extra inputs are not permitted' })))
    if (!b?.email || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(b.email)) return problem(res, 422, 'Validation failed', null, [{ loc: ['body', 'email'], msg: 'value is not a valid email address' }])
    if (!b.password || b.password.length < 8) return problem(res, 422, 'Validation failed', null, [{ loc: ['body', 'password'], msg: 'String should have at least 8 characters' }])
    const email = b.email.toLowerCase()
    if (users.has(email)) return problem(res, 409, 'Conflict', 'This email is already registered.')
    const u = addUser(email, b.password, b.name ?? null)
    return send(res, 201, { token: token(u), token_type: 'bearer', expires_in: TOKEN_TTL, user: pub(u) })
  }
  if (p === '/api/auth/login' && m === 'POST') {
    const b = await body(req)
    const u = users.get((b?.email ?? '').toLowerCase())
    if (!u || u.password !== b.password) return problem(res, 401, 'Invalid credentials', 'Wrong email or password.')
    return send(res, 200, { token: token(u), token_type: 'bearer', expires_in: TOKEN_TTL, user: pub(u) })
  }
  const me = whoami(req)
  if (!me) return problem(res, 401, 'Not authenticated', 'Missing or expired token.')
  if (p === '/api/auth/me') return send(res, 200, pub(users.get(me.email)))
  if (p === '/api/auth/users' && m === 'GET') {
    if (me.role !== 'admin') return problem(res, 403, 'Forbidden', 'Admins only.')
    const q = (url.searchParams.get('q') ?? '').toLowerCase(), role = url.searchParams.get('role')
    const items = [...users.values()].filter((u) => (!role || u.role === role) && (!q || u.email.includes(q) || (u.name ?? '').toLowerCase().includes(q))).map(pub)
    return send(res, 200, page(items, url))
  }
  if (p === '/api/auth/update-user' && m === 'POST') {
    if (me.role !== 'admin') return problem(res, 403, 'Forbidden', 'Admins only.')
    const b = await body(req)
    const u = users.get((b?.email ?? '').toLowerCase())
    if (!u) return problem(res, 404, 'Not found', 'No such user.')
    if (b.role) u.role = b.role
    if (b.skills) u.skills = b.skills
    return send(res, 200, pub(u))
  }
  if (p === '/api/tickets' && m === 'POST') {
    const b = await body(req)
    if (!b?.title || b.title.length < 3) return problem(res, 422, 'Validation failed', null, [{ loc: ['body', 'title'], msg: 'String should have at least 3 characters' }])
    const t = { id: randomUUID(), title: b.title, description: b.description, status: 'open', priority: null, category: null, created_by: ref(me), assigned_to: null, due_at: null, created_at: now(), updated_at: now(), triage: { state: 'pending' } }
    tickets.unshift(t)
    triage(t)
    return send(res, 201, view(t, me), { Location: `/api/tickets/${t.id}` })
  }
  if (p === '/api/tickets' && m === 'GET') {
    const f = Object.fromEntries(url.searchParams)
    let items = tickets.filter((t) => me.role === 'admin' || t.created_by.id === me.id || t.assigned_to?.id === me.id)
    if (f.status) items = items.filter((t) => t.status === f.status)
    if (f.priority) items = items.filter((t) => t.priority === f.priority)
    if (f.category) items = items.filter((t) => t.category === f.category)
    if (f.assigned_to) items = items.filter((t) => t.assigned_to?.id === (f.assigned_to === 'me' ? me.id : f.assigned_to))
    if (f.waiting_for) items = items.filter((t) => t.triage.state === 'waiting' && (t.triage.waiting_for ?? []).includes(f.waiting_for === 'me' ? me.id : f.waiting_for))
    if (f.overdue === 'true') items = items.filter((t) => t.due_at && Date.parse(t.due_at) < Date.now() && !['resolved', 'closed'].includes(t.status))
    if (f.q) items = items.filter((t) => `${t.title} ${t.description}`.toLowerCase().includes(f.q.toLowerCase()))
    return send(res, 200, page(items.map((t) => view(t, me)), url))
  }
  if (p === '/api/stats' && m === 'GET') return stats(res, me, url)
  const tm = p.match(/^\/api\/tickets\/([^/]+)(\/comments|\/retriage)?$/)
  if (tm) {
    const t = tickets.find((x) => x.id === tm[1])
    if (!t || !canSee(t, me)) return problem(res, 404, 'Not found', 'No such ticket.')
    const staff = me.role === 'admin' || t.assigned_to?.id === me.id
    if (!tm[2] && m === 'GET') return send(res, 200, view(t, me))
    if (!tm[2] && m === 'PATCH') {
      const b = await body(req)
      if (!staff && Object.keys(b).some((k) => k !== 'status')) return problem(res, 403, 'Forbidden', 'Only staff may change that.')
      const ok = { open: ['in_progress', 'closed'], in_progress: ['resolved', 'closed'], resolved: ['closed', 'open'], closed: [] }
      if (b.status && !ok[t.status].includes(b.status)) return problem(res, 409, 'Invalid transition', `Cannot move from ${t.status} to ${b.status}.`)
      if (b.assigned_to) t.assigned_to = ref([...users.values()].find((u) => u.id === b.assigned_to))
      Object.assign(t, b.status ? { status: b.status } : {}, b.priority ? { priority: b.priority } : {}, b.category ? { category: b.category } : {}, { updated_at: now() })
      return send(res, 200, view(t, me))
    }
    if (tm[2] === '/comments' && m === 'GET') return send(res, 200, { items: (comments.get(t.id) ?? []).filter((c) => staff || !c.internal), next_cursor: null })
    if (tm[2] === '/comments' && m === 'POST') {
      const b = await body(req)
      if (!b?.body) return problem(res, 422, 'Validation failed', null, [{ loc: ['body', 'body'], msg: 'String should have at least 1 character' }])
      const c = { id: randomUUID(), body: b.body, internal: Boolean(b.internal && staff), author: ref(me), created_at: now() }
      comments.set(t.id, [...(comments.get(t.id) ?? []), c])
      t.updated_at = now()
      return send(res, 201, c)
    }
    if (tm[2] === '/retriage' && m === 'POST') { t.triage = { state: 'pending' }; triage(t); return send(res, 202, { status: 'accepted' }) }
  }
  if (p.startsWith('/api/triage/') && me.role !== 'admin') return problem(res, 403, 'Forbidden', 'Admins only.')
  if (p === '/api/triage/categories' && m === 'GET') return send(res, 200, { categories })
  if (p === '/api/triage/categories' && m === 'PUT') { categories = (await body(req)).categories; return send(res, 200, { categories }) }
  if (p === '/api/triage/examples' && m === 'POST') { const b = await body(req); model.examples += b.examples.length; return send(res, 202, { accepted: b.examples.length }) }
  if (p === '/api/triage/retrain' && m === 'POST') { setTimeout(() => { model = { ...model, version: model.version + 1, trained_at: now() } }, 4000); return send(res, 202, {}) }
  if (p === '/api/triage/model') return send(res, 200, { ...model, training: false, provider: 'local' })
  if (p === '/api/triage/decisions') {
    const t = tickets.find((x) => x.id === url.searchParams.get('ticket_id'))
    const items = t && t.triage.state === 'done' ? [{ id: randomUUID(), ticket_id: t.id, attempt: 1, outcome: 'assigned', provider: 'local', model: 'mock-nb', model_version: model.version,
      category: t.category, priority: t.priority, related_skills: t.related_skills, summary: t.triage.summary, confidence: t.triage.confidence,
      assignee_id: t.assigned_to?.id, assignee_name: t.assigned_to?.name, assignment_reason: t.triage.assignment_reason, created_at: t.triage.triaged_at }] : []
    return send(res, 200, { items, next_cursor: null })
  }
  if (p === '/api/notifications/preferences' && m === 'GET') return send(res, 200, prefs.get(me.id) ?? { ticket_assigned: true, ticket_resolved: true, triage_failed: true, welcome: true })
  if (p === '/api/notifications/preferences' && m === 'PUT') { const b = await body(req); prefs.set(me.id, b); return send(res, 200, b) }
  return problem(res, 404, 'Not found', `No route ${m} ${p}.`)
}

const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html', '.svg': 'image/svg+xml' }
createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x')
  if (url.pathname === '/readyz' || url.pathname === '/healthz') return send(res, 200, { status: 'ok', mock: true })
  if (url.pathname.startsWith('/api/')) return api(req, res, url).catch((e) => problem(res, 500, 'Server error', String(e)))
  const file = url.pathname !== '/' && extname(url.pathname) ? join(DIST, url.pathname) : join(DIST, 'index.html')
  try {
    const data = await readFile(file)
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' })
    res.end(data)
  } catch { res.writeHead(404); res.end('not found') }
}).listen(PORT, '127.0.0.1', () => console.log(`mock gateway on http://127.0.0.1:${PORT}`))
