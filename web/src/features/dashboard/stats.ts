import type { Priority, Stats } from '../../api/types'

export interface Bar {
  label: string
  value: number
}

const DAY_MS = 86_400_000

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10)
}

/** The last `days` UTC days up to today, as the `from`/`to` of GET /api/stats. */
export function lastDays(days: number, nowMs: number = Date.now()): { from: string; to: string } {
  return { from: utcDay(nowMs - (days - 1) * DAY_MS), to: utcDay(nowMs) }
}

export interface Load {
  id: string
  label: string
  open: number
  inProgress: number
  overdue: number
}

export interface StatsView {
  perDay: Bar[]
  byCategory: Bar[]
  byPriority: Bar[]
  byStatus: Bar[]
  overdueByPriority: Bar[]
  load: Load[]
  active: number
}

const PRIORITY_ORDER: (Priority | 'none')[] = ['high', 'medium', 'low', 'none']

function priorities(counts: Record<string, number>, keepNone: boolean): Bar[] {
  return PRIORITY_ORDER.filter((p) => p !== 'none' || (keepNone && counts.none > 0)).map((p) => ({
    label: p === 'none' ? 'None' : p,
    value: counts[p] ?? 0,
  }))
}

/** The server's figures shaped for the charts (the server already counted and ordered them). */
export function statsView(s: Stats): StatsView {
  return {
    perDay: s.per_day.map((d) => ({ label: d.day, value: d.count })),
    byCategory: s.by_category.map((c) => ({ label: c.category ?? 'Not triaged', value: c.count })),
    byPriority: priorities(s.by_priority, true),
    byStatus: (['open', 'in_progress', 'resolved', 'closed'] as const).map((k) => ({ label: k.replace('_', ' '), value: s.by_status[k] ?? 0 })),
    overdueByPriority: priorities(s.overdue.by_priority, true),
    load: s.load.map((l) => ({ id: l.id, label: l.name || l.email || l.id, open: l.open, inProgress: l.in_progress, overdue: l.overdue })),
    active: s.open.open + s.open.in_progress,
  }
}

/** Seconds (as the API gives them) in the dashboard's words. */
export function formatSeconds(seconds: number | null): string {
  return formatDuration(seconds == null ? null : seconds * 1000)
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
