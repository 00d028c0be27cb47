import type { Ticket, TicketFilters } from '../../api/types'

/** The two parts of a moderator's queue: tickets assigned to them, and tickets waiting for their next free slot. */
export type QueueView = 'assigned' | 'waiting'

export function queueView(sp: URLSearchParams): QueueView {
  return sp.get('view') === 'waiting' ? 'waiting' : 'assigned'
}

/** What the API is asked for each part (GET /api/tickets?assigned_to=me or ?waiting_for=me). */
export function queueFilters(view: QueueView): TicketFilters {
  return view === 'waiting' ? { waiting_for: 'me' } : { assigned_to: 'me' }
}

/** Is this ticket waiting for a free slot of this moderator? */
export function waitsFor(ticket: Ticket, userId: string | null | undefined): boolean {
  return ticket.triage.state === 'waiting' && !!userId && (ticket.triage.waiting_for ?? []).includes(userId)
}

/** A line for a moderator it waits for: whether others could take it first. */
export function waitingNote(ticket: Ticket, userId: string | null | undefined): string | null {
  if (!waitsFor(ticket, userId)) return null
  const others = (ticket.triage.waiting_for ?? []).filter((id) => id !== userId).length
  const who = others === 0 ? 'It waits for you alone' : `It waits for you and ${others} other moderator${others === 1 ? '' : 's'} who fit`
  return `${who}: the first to free a slot (resolve or close a ticket) gets it.`
}
