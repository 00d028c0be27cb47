import type { Ticket } from '../../../api/types'
import { formatDateTime, priorityLabel } from '../../../common/format'
import { Alert, Spinner, TriageBadge } from '../../../common/ui'
import { waitingNote } from '../queue'
import { personName } from './people'

function Confidence({ value }: { value: number | null | undefined }) {
  if (value == null) return <span className="muted">—</span>
  const pct = Math.round(Math.max(0, Math.min(1, value)) * 100)
  return (
    <span className="confidence">
      <span className="meter" role="meter" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} aria-label="Confidence">
        <span style={{ width: `${pct}%` }} />
      </span>
      <strong data-testid="confidence">{pct}%</strong>
    </span>
  )
}

/** What the AI made of the ticket (staff see its notes, skills and reasons). */
export function AiPanel({ ticket, isAdmin, userId, onRetriage, retriaging }: { ticket: Ticket; isAdmin: boolean; userId: string | null; onRetriage: () => void; retriaging: boolean }) {
  const tr = ticket.triage
  const hasStaffFields = ticket.helpful_notes != null || ticket.related_skills != null || tr.summary != null
  return (
    <section className="card ai-panel" aria-labelledby="ai-title" aria-live="polite">
      <h2 id="ai-title">AI triage <TriageBadge state={tr.state} /></h2>
      {tr.state === 'pending' && (
        <p className="muted"><Spinner /> Reading the ticket and choosing a category, priority and the best person for it… this page updates by itself.</p>
      )}
      {tr.state === 'waiting' && (
        <Alert kind="warn">
          Triaged as <strong>{ticket.category ?? 'no category'}</strong>, {priorityLabel(ticket.priority).toLowerCase()} priority. Every moderator who fits is at capacity: the ticket waits for the first of them to free a slot and is assigned then. The SLA is already running.
          {waitingNote(ticket, userId) && <> <strong data-testid="waiting-note">{waitingNote(ticket, userId)}</strong></>}
          {isAdmin && tr.waiting_for && tr.waiting_for.length > 0 && <> It waits for {tr.waiting_for.length} moderator{tr.waiting_for.length === 1 ? '' : 's'}.</>}
        </Alert>
      )}
      {tr.state === 'failed' && (
        <Alert kind="warn">
          Automatic triage failed for this ticket. {isAdmin ? 'You can run it again.' : 'The support team has been told and will route it by hand.'}
        </Alert>
      )}
      {tr.state === 'done' && !hasStaffFields && (
        <p>
          Filed under <strong>{ticket.category ?? 'no category'}</strong> with <strong>{priorityLabel(ticket.priority).toLowerCase()}</strong> priority
          {ticket.assigned_to ? <>, assigned to <strong>{personName(ticket.assigned_to)}</strong>.</> : '.'}
        </p>
      )}
      {(tr.state === 'done' || tr.state === 'waiting') && hasStaffFields && (
        <>
          {tr.summary && <p><strong>Summary.</strong> {tr.summary}</p>}
          {ticket.helpful_notes && (
            <div>
              <h3>Notes for the agent</h3>
              <p className="description" data-testid="helpful-notes">{ticket.helpful_notes}</p>
            </div>
          )}
          <dl className="ticket-meta">
            <dt>Related skills</dt>
            <dd>
              {ticket.related_skills?.length ? (
                <span className="chips">{ticket.related_skills.map((s) => <span className="chip" key={s}>{s}</span>)}</span>
              ) : <span className="muted">none</span>}
            </dd>
            <dt>Why this assignee</dt>
            <dd data-testid="assignment-reason">{tr.assignment_reason || <span className="muted">—</span>}</dd>
            <dt>Confidence</dt>
            <dd><Confidence value={tr.confidence} /></dd>
            <dt>Model</dt>
            <dd>{[tr.provider, tr.model].filter(Boolean).join(' · ') || '—'}</dd>
            <dt>Triaged</dt>
            <dd>{formatDateTime(tr.triaged_at)}</dd>
          </dl>
        </>
      )}
      {isAdmin && tr.state !== 'pending' && (
        <div className="form-actions">
          <button type="button" className="btn btn-secondary btn-small" onClick={onRetriage} disabled={retriaging}>
            {retriaging ? <><Spinner /> Requesting…</> : 'Run triage again'}
          </button>
        </div>
      )}
    </section>
  )
}
