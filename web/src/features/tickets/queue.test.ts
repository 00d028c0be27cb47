import { describe, expect, it } from 'vitest'
import { buildQuery } from '../../api/client'
import type { Ticket } from '../../api/types'
import { queueFilters, queueView, waitingNote, waitsFor } from './queue'

function ticket(state: Ticket['triage']['state'], waiting_for?: string[]): Ticket {
  return {
    id: 't1', title: 'VPN drops', description: 'd', status: 'open', priority: 'high', category: 'Network',
    created_by: { id: 'u1', name: 'U', email: 'u@x' }, assigned_to: null, due_at: null,
    created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', triage: { state, waiting_for },
  }
}

describe('moderator queue', () => {
  it('reads the part from the URL, assigned by default', () => {
    expect(queueView(new URLSearchParams('view=waiting'))).toBe('waiting')
    expect(queueView(new URLSearchParams(''))).toBe('assigned')
    expect(queueView(new URLSearchParams('view=bogus'))).toBe('assigned')
  })
  it('asks the API for what waits for me, or what is assigned to me', () => {
    expect(buildQuery({ limit: 50, ...queueFilters('waiting') })).toBe('?limit=50&waiting_for=me')
    expect(buildQuery({ limit: 50, ...queueFilters('assigned') })).toBe('?limit=50&assigned_to=me')
  })
  it('says when a ticket waits for this moderator, and for how many others', () => {
    expect(waitsFor(ticket('waiting', ['m1', 'm2']), 'm1')).toBe(true)
    expect(waitsFor(ticket('waiting', ['m2']), 'm1')).toBe(false)
    expect(waitsFor(ticket('done', ['m1']), 'm1')).toBe(false)
    expect(waitsFor(ticket('waiting'), 'm1')).toBe(false) // a requester's view has no list
    expect(waitsFor(ticket('waiting', ['m1']), null)).toBe(false)
    expect(waitingNote(ticket('waiting', ['m1']), 'm1')).toMatch(/^It waits for you alone/)
    expect(waitingNote(ticket('waiting', ['m1', 'm2']), 'm1')).toMatch(/^It waits for you and 1 other moderator who fit/)
    expect(waitingNote(ticket('waiting', ['m1', 'm2', 'm3']), 'm1')).toMatch(/and 2 other moderators/)
    expect(waitingNote(ticket('waiting', ['m2']), 'm1')).toBeNull()
  })
})
