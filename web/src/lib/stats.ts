import type { Ticket } from '../api/types'

export interface Bar {
  label: string
  value: number
}

const DAY_MS = 86_400_000

export function isActive(t: Pick<Ticket, 'status'>): boolean {
  return t.status === 'open' || t.status === 'in_progress'
}

export function isOverdue(t: Pick<Ticket, 'status' | 'due_at'>, nowMs: number = Date.now()): boolean {
  if (!t.due_at || !isActive(t)) return false
  const due = Date.parse(t.due_at)
  return !Number.isNaN(due) && due < nowMs
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10)
}

/** Tickets created per UTC day over the last `days` days (oldest first, days without tickets count 0). */
export function ticketsPerDay(tickets: Pick<Ticket, 'created_at'>[], days = 30, nowMs: number = Date.now()): Bar[] {
  const todayStart = Date.parse(utcDay(nowMs) + 'T00:00:00Z')
  const counts = new Map<string, number>()
  const out: Bar[] = []
  for (let i = days - 1; i >= 0; i--) {
    const label = utcDay(todayStart - i * DAY_MS)
    counts.set(label, 0)
  }
  for (const t of tickets) {
    const ms = Date.parse(t.created_at)
    if (Number.isNaN(ms)) continue
    const label = utcDay(ms)
    if (counts.has(label)) counts.set(label, (counts.get(label) ?? 0) + 1)
  }
  for (const [label, value] of counts) out.push({ label, value })
  return out
}

/** Counts by a key, largest first; a null key is shown as `emptyLabel`. */
export function countBy<T>(items: T[], key: (item: T) => string | null | undefined, emptyLabel = 'None'): Bar[] {
  const counts = new Map<string, number>()
  for (const item of items) {
    const k = key(item) || emptyLabel
    counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  return [...counts.entries()]
    .map(([label, value]) => ({ label, value }))
    .sort((a, b) => b.value - a.value || a.label.localeCompare(b.label))
}

/** Counts in a fixed order of labels (every label appears, even at 0). */
export function countInOrder<T>(items: T[], key: (item: T) => string | null | undefined, order: string[], emptyLabel = 'None'): Bar[] {
  const counts = new Map<string, number>(order.map((o) => [o, 0]))
  for (const item of items) {
    const k = key(item) || emptyLabel
    counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  return [...counts.entries()].filter(([label, v]) => order.includes(label) || v > 0).map(([label, value]) => ({ label, value }))
}

export interface DurationStats {
  count: number
  meanMs: number | null
  medianMs: number | null
  p90Ms: number | null
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | null {
  if (!sorted.length) return null
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]
}

export function durationStats(values: number[]): DurationStats {
  const v = values.filter((x) => Number.isFinite(x) && x >= 0).sort((a, b) => a - b)
  if (!v.length) return { count: 0, meanMs: null, medianMs: null, p90Ms: null }
  const mean = v.reduce((a, b) => a + b, 0) / v.length
  const mid = Math.floor(v.length / 2)
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
  return { count: v.length, meanMs: mean, medianMs: median, p90Ms: percentile(v, 90) }
}

/** triage.triaged_at − created_at for triaged tickets. */
export function triageDurations(tickets: Ticket[]): number[] {
  const out: number[] = []
  for (const t of tickets) {
    if (t.triage?.state !== 'done' || !t.triage.triaged_at) continue
    const d = Date.parse(t.triage.triaged_at) - Date.parse(t.created_at)
    if (Number.isFinite(d) && d >= 0) out.push(d)
  }
  return out
}

/**
 * Time to resolve: the API has no resolved_at, so the last update of a resolved or closed ticket
 * stands in for it (a comment after resolution makes it longer, never shorter).
 */
export function resolveDurations(tickets: Ticket[]): number[] {
  const out: number[] = []
  for (const t of tickets) {
    if (t.status !== 'resolved' && t.status !== 'closed') continue
    const d = Date.parse(t.updated_at) - Date.parse(t.created_at)
    if (Number.isFinite(d) && d >= 0) out.push(d)
  }
  return out
}

export interface OverdueSummary {
  total: number
  byPriority: Bar[]
}

export function overdueSummary(tickets: Ticket[], nowMs: number = Date.now()): OverdueSummary {
  const overdue = tickets.filter((t) => isOverdue(t, nowMs))
  return { total: overdue.length, byPriority: countInOrder(overdue, (t) => t.priority, ['high', 'medium', 'low']) }
}

export interface Load {
  id: string
  label: string
  open: number
  inProgress: number
  overdue: number
}

/** Open work per assignee (open + in progress), most loaded first; unassigned tickets are left out. */
export function assigneeLoad(tickets: Ticket[], nowMs: number = Date.now()): Load[] {
  const byId = new Map<string, Load>()
  for (const t of tickets) {
    if (!t.assigned_to || !isActive(t)) continue
    const a = t.assigned_to
    let l = byId.get(a.id)
    if (!l) {
      l = { id: a.id, label: a.name || a.email, open: 0, inProgress: 0, overdue: 0 }
      byId.set(a.id, l)
    }
    if (t.status === 'open') l.open++
    else l.inProgress++
    if (isOverdue(t, nowMs)) l.overdue++
  }
  return [...byId.values()].sort((a, b) => b.open + b.inProgress - (a.open + a.inProgress) || a.label.localeCompare(b.label))
}

export function formatDuration(ms: number | null): string {
  if (ms == null) return '—'
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s`
  const m = Math.round(s / 60)
  if (m < 60) return `${m} min`
  const h = ms / 3_600_000
  if (h < 48) return `${h.toFixed(h < 10 ? 1 : 0)} h`
  return `${(h / 24).toFixed(1)} d`
}
