import { describe, expect, it } from 'vitest'
import type { Ticket } from '../api/types'
import { assigneeLoad, countBy, countInOrder, durationStats, formatDuration, isOverdue, overdueSummary, percentile, resolveDurations, ticketsPerDay, triageDurations } from './stats'

const NOW = Date.parse('2026-03-10T12:00:00Z')
let n = 0
function t(p: Partial<Ticket>): Ticket {
  n++
  return {
    id: `t${n}`, title: 'x', description: 'y', status: 'open', priority: null, category: null,
    created_by: { id: 'u', name: 'U', email: 'u@x.io' }, assigned_to: null, due_at: null,
    created_at: '2026-03-10T10:00:00Z', updated_at: '2026-03-10T10:00:00Z', triage: { state: 'pending' }, ...p,
  }
}
const mod1 = { id: 'm1', name: 'Mia', email: 'mia@x.io' }
const mod2 = { id: 'm2', name: null, email: 'bo@x.io' }

describe('ticketsPerDay', () => {
  it('counts per UTC day over a fixed window, zero-filled, oldest first', () => {
    const bars = ticketsPerDay([
      t({ created_at: '2026-03-10T00:30:00Z' }), t({ created_at: '2026-03-10T23:59:00Z' }),
      t({ created_at: '2026-03-08T12:00:00Z' }), t({ created_at: '2026-01-01T00:00:00Z' }),
    ], 3, NOW)
    expect(bars).toEqual([
      { label: '2026-03-08', value: 1 }, { label: '2026-03-09', value: 0 }, { label: '2026-03-10', value: 2 },
    ])
  })
})

describe('countBy / countInOrder', () => {
  it('groups, names the empty key and sorts largest first', () => {
    const items = [t({ category: 'Billing' }), t({ category: 'Billing' }), t({ category: null }), t({ category: 'Access' })]
    expect(countBy(items, (x) => x.category, 'Untriaged')).toEqual([
      { label: 'Billing', value: 2 }, { label: 'Access', value: 1 }, { label: 'Untriaged', value: 1 },
    ])
  })
  it('keeps a fixed order with zeros', () => {
    expect(countInOrder([t({ priority: 'low' }), t({ priority: null })], (x) => x.priority, ['high', 'medium', 'low'], 'None')).toEqual([
      { label: 'high', value: 0 }, { label: 'medium', value: 0 }, { label: 'low', value: 1 }, { label: 'None', value: 1 },
    ])
  })
})

describe('durations', () => {
  it('computes triage time from triaged_at − created_at for done tickets only', () => {
    const ds = triageDurations([
      t({ triage: { state: 'done', triaged_at: '2026-03-10T10:00:02Z' } }),
      t({ triage: { state: 'done', triaged_at: '2026-03-10T10:00:10Z' } }),
      t({ triage: { state: 'pending' } }),
      t({ triage: { state: 'done' } }),
    ])
    expect(ds).toEqual([2000, 10000])
  })
  it('computes resolve time for resolved and closed tickets', () => {
    expect(resolveDurations([
      t({ status: 'resolved', updated_at: '2026-03-10T12:00:00Z' }),
      t({ status: 'closed', updated_at: '2026-03-10T11:00:00Z' }),
      t({ status: 'in_progress', updated_at: '2026-03-10T13:00:00Z' }),
    ])).toEqual([7_200_000, 3_600_000])
  })
  it('summarises mean, median and p90', () => {
    expect(durationStats([])).toEqual({ count: 0, meanMs: null, medianMs: null, p90Ms: null })
    const s = durationStats([10, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(s).toEqual({ count: 10, meanMs: 5.5, medianMs: 5.5, p90Ms: 9 })
    expect(durationStats([3, 1, 2]).medianMs).toBe(2)
    expect(percentile([1, 2, 3], 100)).toBe(3)
    expect(percentile([1, 2, 3], 0)).toBe(1)
  })
  it('formats durations', () => {
    expect(formatDuration(null)).toBe('—')
    expect(formatDuration(4_400)).toBe('4 s')
    expect(formatDuration(150_000)).toBe('3 min')
    expect(formatDuration(5_400_000)).toBe('1.5 h')
    expect(formatDuration(3 * 86_400_000)).toBe('3.0 d')
  })
})

describe('overdue and load', () => {
  const past = '2026-03-10T11:00:00Z'
  const future = '2026-03-11T11:00:00Z'
  it('is overdue only past due_at and while active', () => {
    expect(isOverdue(t({ due_at: past }), NOW)).toBe(true)
    expect(isOverdue(t({ due_at: future }), NOW)).toBe(false)
    expect(isOverdue(t({ due_at: past, status: 'resolved' }), NOW)).toBe(false)
    expect(isOverdue(t({ due_at: null }), NOW)).toBe(false)
  })
  it('summarises overdue tickets by priority', () => {
    const s = overdueSummary([t({ due_at: past, priority: 'high' }), t({ due_at: past, priority: 'high', status: 'in_progress' }), t({ due_at: future, priority: 'low' })], NOW)
    expect(s.total).toBe(2)
    expect(s.byPriority).toEqual([{ label: 'high', value: 2 }, { label: 'medium', value: 0 }, { label: 'low', value: 0 }])
  })
  it('counts each assignee open load, most loaded first', () => {
    const load = assigneeLoad([
      t({ assigned_to: mod1 }), t({ assigned_to: mod1, status: 'in_progress', due_at: past }), t({ assigned_to: mod1, status: 'closed' }),
      t({ assigned_to: mod2 }), t({ assigned_to: null }),
    ], NOW)
    expect(load).toEqual([
      { id: 'm1', label: 'Mia', open: 1, inProgress: 1, overdue: 1 },
      { id: 'm2', label: 'bo@x.io', open: 1, inProgress: 0, overdue: 0 },
    ])
  })
})
