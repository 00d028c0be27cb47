import type { Ticket } from '../../api/types'

export function isActive(t: Pick<Ticket, 'status'>): boolean {
  return t.status === 'open' || t.status === 'in_progress'
}

export function isOverdue(t: Pick<Ticket, 'status' | 'due_at'>, nowMs: number = Date.now()): boolean {
  if (!t.due_at || !isActive(t)) return false
  const due = Date.parse(t.due_at)
  return !Number.isNaN(due) && due < nowMs
}
