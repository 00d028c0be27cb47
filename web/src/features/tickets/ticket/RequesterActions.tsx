import { useMutation } from '@tanstack/react-query'
import type { Status, Ticket } from '../../../api/types'
import { ErrorAlert } from '../../../common/ui'
import { ticketsApi } from '../api'
import { requesterMoves } from '../workflow'

/** The requester's own moves: reopen once resolved, or close. */
export function RequesterActions({ ticket, onChange }: { ticket: Ticket; onChange: (t: Ticket) => void }) {
  const move = useMutation({
    mutationFn: (status: Status) => ticketsApi.updateTicket(ticket.id, { status }),
    onSuccess: onChange,
  })
  const busy = move.isPending
  const error = move.error
  const moves = requesterMoves(ticket.status)
  if (moves.length === 0) return null
  return (
    <section className="card" aria-labelledby="req-actions">
      <h2 id="req-actions">Your ticket</h2>
      <ErrorAlert error={error} />
      {ticket.status === 'resolved' && <p>We think this is solved. Still a problem? Reopen it.</p>}
      <div className="form-actions" style={{ marginTop: 0 }}>
        {moves.includes('open') && (
          <button type="button" className="btn" onClick={() => move.mutate('open')} disabled={busy}>Reopen</button>
        )}
        {moves.includes('closed') && (
          <button type="button" className="btn btn-secondary" onClick={() => move.mutate('closed')} disabled={busy}>Close ticket</button>
        )}
      </div>
    </section>
  )
}
