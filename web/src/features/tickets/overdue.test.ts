import { describe, expect, it } from 'vitest'
import type { Ticket } from '../../api/types'
import { isOverdue } from './overdue'

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

describe('overdue', () => {
  const past = '2026-03-10T11:00:00Z'
  const future = '2026-03-11T11:00:00Z'
  it('is overdue only past due_at and while active', () => {
    expect(isOverdue(t({ due_at: past }), NOW)).toBe(true)
    expect(isOverdue(t({ due_at: future }), NOW)).toBe(false)
    expect(isOverdue(t({ due_at: past, status: 'resolved' }), NOW)).toBe(false)
    expect(isOverdue(t({ due_at: null }), NOW)).toBe(false)
  })
})
