import type { Ticket } from '../../../api/types'
import { formatDateTime, priorityLabel, statusLabel } from '../../../common/format'
import { personName } from './people'

/** The ticket's facts: status, priority, category, people and dates. */
export function TicketDetails({ ticket, isCreator }: { ticket: Ticket; isCreator: boolean }) {
  return (
    <section className="card" aria-labelledby="details-title">
      <h2 id="details-title">Details</h2>
      <dl className="ticket-meta">
        <dt>Status</dt><dd>{statusLabel(ticket.status)}</dd>
        <dt>Priority</dt><dd>{priorityLabel(ticket.priority)}</dd>
        <dt>Category</dt><dd data-testid="ticket-category">{ticket.category ?? '—'}</dd>
        <dt>Assignee</dt><dd data-testid="ticket-assignee">{ticket.assigned_to ? personName(ticket.assigned_to) : 'Unassigned'}</dd>
        <dt>Requester</dt><dd>{personName(ticket.created_by)}{isCreator ? ' (you)' : ''}</dd>
        <dt>Created</dt><dd>{formatDateTime(ticket.created_at)}</dd>
        <dt>Updated</dt><dd>{formatDateTime(ticket.updated_at)}</dd>
        <dt>Due</dt><dd>{ticket.due_at ? formatDateTime(ticket.due_at) : '—'}</dd>
        <dt>Reference</dt><dd><code className="small">{ticket.id.slice(0, 8)}</code></dd>
      </dl>
    </section>
  )
}
