import { describe, expect, it } from 'vitest'
import type { Stats } from '../../api/types'
import { formatDuration, formatSeconds, lastDays, statsView } from './stats'

const NOW = Date.parse('2026-03-10T12:00:00Z')
const STATS: Stats = {
  scope: 'all', from: '2026-03-08', to: '2026-03-10', generated_at: '2026-03-10T12:00:00Z', created: 5,
  per_day: [{ day: '2026-03-08', count: 1 }, { day: '2026-03-09', count: 0 }, { day: '2026-03-10', count: 4 }],
  by_status: { open: 2, in_progress: 1, resolved: 1, closed: 1 },
  by_priority: { high: 2, medium: 1, low: 1, none: 1 },
  by_category: [{ category: 'Billing', count: 3 }, { category: null, count: 2 }],
  time_to_triage: { count: 4, p50_seconds: 12, p90_seconds: 40 },
  time_to_resolve: { count: 2, p50_seconds: 7200, p90_seconds: 10080 },
  open: { open: 7, in_progress: 3 },
  overdue: { total: 2, by_priority: { high: 2, medium: 0, low: 0, none: 0 } },
  load: [
    { id: 'm1', name: 'Mia', email: 'mia@x.io', open: 2, in_progress: 1, overdue: 1 },
    { id: 'm2', name: null, email: 'bo@x.io', open: 1, in_progress: 0, overdue: 0 },
    { id: 'm3', name: null, email: null, open: 1, in_progress: 0, overdue: 0 },
  ],
  triage: { pending: 1, waiting: 2, failed: 0, oldest_waiting_at: '2026-03-10T11:00:00Z' },
  dead_letters: { open: 0 },
}

describe('statsView', () => {
  it('shapes the server figures for the charts without recounting them', () => {
    const v = statsView(STATS)
    expect(v.perDay).toEqual([
      { label: '2026-03-08', value: 1 }, { label: '2026-03-09', value: 0 }, { label: '2026-03-10', value: 4 },
    ])
    expect(v.byCategory).toEqual([{ label: 'Billing', value: 3 }, { label: 'Not triaged', value: 2 }])
    expect(v.byPriority).toEqual([
      { label: 'high', value: 2 }, { label: 'medium', value: 1 }, { label: 'low', value: 1 }, { label: 'None', value: 1 },
    ])
    expect(v.byStatus).toEqual([
      { label: 'open', value: 2 }, { label: 'in progress', value: 1 }, { label: 'resolved', value: 1 }, { label: 'closed', value: 1 },
    ])
    expect(v.overdueByPriority).toEqual([{ label: 'high', value: 2 }, { label: 'medium', value: 0 }, { label: 'low', value: 0 }])
    expect(v.load.map((l) => [l.label, l.open, l.inProgress, l.overdue])).toEqual([
      ['Mia', 2, 1, 1], ['bo@x.io', 1, 0, 0], ['m3', 1, 0, 0],
    ])
    expect(v.active).toBe(10)
  })
})

describe('lastDays', () => {
  it('is the UTC days up to today, both included', () => {
    expect(lastDays(30, NOW)).toEqual({ from: '2026-02-09', to: '2026-03-10' })
    expect(lastDays(1, NOW)).toEqual({ from: '2026-03-10', to: '2026-03-10' })
  })
})

describe('durations', () => {
  it('formats durations', () => {
    expect(formatDuration(null)).toBe('—')
    expect(formatDuration(4_400)).toBe('4 s')
    expect(formatDuration(150_000)).toBe('3 min')
    expect(formatDuration(5_400_000)).toBe('1.5 h')
    expect(formatDuration(3 * 86_400_000)).toBe('3.0 d')
    expect(formatSeconds(7200)).toBe('2.0 h')
    expect(formatSeconds(null)).toBe('—')
  })
})
