import { describe, expect, it } from 'vitest'
import type { Ticket } from '../../api/types'
import { sortTickets } from './sort'

function t(id: string, p: Partial<Ticket>): Ticket {
  return {
    id, title: id, description: '', status: 'open', priority: null, category: null,
    created_by: { id: 'u', name: '', email: 'u@x.io' }, assigned_to: null, due_at: null,
    created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', triage: { state: 'done' }, ...p,
  }
}

describe('sortTickets', () => {
  const list = [
    t('a', { priority: 'low', due_at: '2026-01-03T00:00:00Z', created_at: '2026-01-02T00:00:00Z', status: 'resolved' }),
    t('b', { priority: null, due_at: null, created_at: '2026-01-03T00:00:00Z' }),
    t('c', { priority: 'high', due_at: '2026-01-02T00:00:00Z', created_at: '2026-01-01T00:00:00Z', status: 'in_progress' }),
    t('d', { priority: 'medium', due_at: '2026-01-04T00:00:00Z', created_at: '2026-01-04T00:00:00Z' }),
  ]
  const ids = (xs: Ticket[]) => xs.map((x) => x.id).join('')
  it('sorts by priority, missing last in both directions', () => {
    expect(ids(sortTickets(list, { key: 'priority', dir: 'desc' }))).toBe('cdab')
    expect(ids(sortTickets(list, { key: 'priority', dir: 'asc' }))).toBe('adcb')
  })
  it('sorts by due date and by creation', () => {
    expect(ids(sortTickets(list, { key: 'due', dir: 'asc' }))).toBe('cadb')
    expect(ids(sortTickets(list, { key: 'created', dir: 'desc' }))).toBe('dbac')
  })
  it('sorts by status in workflow order, stable for ties, without mutating the input', () => {
    expect(ids(sortTickets(list, { key: 'status', dir: 'asc' }))).toBe('bdca')
    expect(ids(list)).toBe('abcd')
  })
})
