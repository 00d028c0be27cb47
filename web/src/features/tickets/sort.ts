import type { Ticket } from '../../api/types'

export type SortKey = 'created' | 'updated' | 'priority' | 'status' | 'due' | 'title'
export interface Sort {
  key: SortKey
  dir: 'asc' | 'desc'
}

const PRIORITY_RANK: Record<string, number> = { high: 3, medium: 2, low: 1 }
const STATUS_RANK: Record<string, number> = { open: 0, in_progress: 1, resolved: 2, closed: 3 }

function time(iso: string | null): number {
  const t = iso ? Date.parse(iso) : NaN
  return Number.isNaN(t) ? NaN : t
}

/** Sorts a copy; tickets without a value for the key (no priority, no due date) always go last. */
export function sortTickets(tickets: Ticket[], sort: Sort): Ticket[] {
  const sign = sort.dir === 'asc' ? 1 : -1
  const value = (t: Ticket): number | string | null => {
    switch (sort.key) {
      case 'created': return time(t.created_at)
      case 'updated': return time(t.updated_at)
      case 'priority': return t.priority ? PRIORITY_RANK[t.priority] : null
      case 'status': return STATUS_RANK[t.status] ?? null
      case 'due': { const d = time(t.due_at); return Number.isNaN(d) ? null : d }
      case 'title': return t.title.toLowerCase()
    }
  }
  return tickets
    .map((t, i) => ({ t, i, v: value(t) }))
    .sort((a, b) => {
      const av = a.v, bv = b.v
      const aMissing = av === null || (typeof av === 'number' && Number.isNaN(av))
      const bMissing = bv === null || (typeof bv === 'number' && Number.isNaN(bv))
      if (aMissing !== bMissing) return aMissing ? 1 : -1
      if (!aMissing && !bMissing && av !== bv) {
        if (typeof av === 'string' && typeof bv === 'string') return sign * av.localeCompare(bv)
        return sign * ((av as number) - (bv as number))
      }
      return a.i - b.i
    })
    .map((x) => x.t)
}
