import { useCallback, useEffect, useState, type FormEvent } from 'react'
import { Link, useLocation, useParams } from 'react-router-dom'
import { api } from '../api/client'
import { ApiError } from '../api/errors'
import { PRIORITIES, type Attachment, type Category, type Comment, type Decision, type Priority, type Status, type Ticket, type User } from '../api/types'
import { useAuth } from '../auth'
import { TicketIncident } from '../features/incidents/TicketIncident'
import { Alert, Empty, ErrorAlert, Field, Loading, PriorityBadge, Spinner, StatusBadge, TriageBadge, When } from '../components/ui'
import { formatDateTime, priorityLabel, statusLabel } from '../lib/format'
import { useDocumentTitle, useDraft, usePolling } from '../lib/hooks'
import { waitingNote, waitsFor } from '../lib/queue'
import { isOverdue } from '../lib/stats'
import { validateComment } from '../lib/validation'
import { nextStatuses, requesterMoves } from '../lib/workflow'

function personName(p: { name?: string | null; email?: string } | null | undefined): string {
  if (!p) return 'Someone'
  return p.name || p.email || 'Someone'
}

function commentAuthor(c: Comment): { id?: string; label: string } {
  const raw = c as unknown as Record<string, unknown>
  const a = (raw.author ?? raw.created_by ?? raw.user) as { id?: string; name?: string | null; email?: string } | undefined
  if (a && typeof a === 'object') return { id: a.id, label: personName(a) }
  if (typeof raw.author_name === 'string') return { id: raw.author_id as string | undefined, label: raw.author_name }
  if (typeof raw.author_id === 'string') return { id: raw.author_id, label: 'Someone' }
  return { label: 'Someone' }
}

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

function AiPanel({ ticket, isAdmin, userId, onRetriage, retriaging }: { ticket: Ticket; isAdmin: boolean; userId: string | null; onRetriage: () => void; retriaging: boolean }) {
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

function DecisionLog({ ticketId, triageState }: { ticketId: string; triageState: string }) {
  const [open, setOpen] = useState(false)
  const [items, setItems] = useState<Decision[] | null>(null)
  const [error, setError] = useState<unknown>(null)
  useEffect(() => {
    if (!open) return
    setError(null)
    api.decisions(ticketId).then((p) => setItems(p.items), setError)
  }, [open, ticketId, triageState])
  return (
    <details className="card" onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary><strong>Decision log</strong> <span className="muted small">every triage attempt, newest first</span></summary>
      <div style={{ marginTop: '0.75rem' }}>
        <ErrorAlert error={error} />
        {open && !items && !error && <Loading label="Loading decisions…" />}
        {items && items.length === 0 && <p className="muted">No decisions yet.</p>}
        {items && items.length > 0 && (
          <div className="table-wrap">
            <table className="data responsive">
              <thead><tr><th scope="col">When</th><th scope="col">Outcome</th><th scope="col">Model</th><th scope="col">Result</th><th scope="col">Assignee and reason</th></tr></thead>
              <tbody>
                {items.map((d) => (
                  <tr key={d.id}>
                    <td data-label="When" className="nowrap"><When iso={d.created_at} /> <span className="sub">#{d.attempt}</span></td>
                    <td data-label="Outcome">{d.outcome}</td>
                    <td data-label="Model">{[d.provider, d.model, d.model_version != null ? `v${d.model_version}` : null].filter(Boolean).join(' · ') || '—'}</td>
                    <td data-label="Result">{[d.category, d.priority].filter(Boolean).join(' / ') || '—'}{d.confidence != null && <span className="sub"> ({Math.round(d.confidence * 100)}%)</span>}</td>
                    <td data-label="Assignee">{d.assignee_name ?? '—'}<div className="sub">{d.assignment_reason}</div></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </details>
  )
}

function StaffActions({ ticket, isAdmin, onChange }: { ticket: Ticket; isAdmin: boolean; onChange: (t: Ticket) => void }) {
  const [priority, setPriority] = useState<Priority | ''>(ticket.priority ?? '')
  const [category, setCategory] = useState(ticket.category ?? '')
  const [assignee, setAssignee] = useState(ticket.assigned_to?.id ?? '')
  const [categories, setCategories] = useState<Category[] | null>(null)
  const [suggestions, setSuggestions] = useState<string[]>([])
  const [staff, setStaff] = useState<User[]>([])
  const [busy, setBusy] = useState<string | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [done, setDone] = useState<string | null>(null)

  useEffect(() => {
    setPriority(ticket.priority ?? '')
    setCategory(ticket.category ?? '')
    setAssignee(ticket.assigned_to?.id ?? '')
  }, [ticket.priority, ticket.category, ticket.assigned_to?.id, ticket.status])

  useEffect(() => {
    // Only admins may read the configured categories; moderators get suggestions from their own tickets.
    api.categories().then(
      (r) => setCategories(r.categories),
      () => {
        setCategories(null)
        api.tickets({ assigned_to: 'me', limit: 100 }).then(
          (p) => setSuggestions([...new Set(p.items.map((t) => t.category).filter((c): c is string => Boolean(c)))].sort()),
          () => setSuggestions([]),
        )
      },
    )
    if (isAdmin) {
      Promise.all([api.users({ role: 'moderator', limit: 100 }), api.users({ role: 'admin', limit: 100 })])
        .then(([m, a]) => setStaff([...m.items, ...a.items]), () => setStaff([]))
    }
  }, [isAdmin])

  async function patch(label: string, body: Parameters<typeof api.updateTicket>[1]) {
    setBusy(label)
    setError(null)
    setDone(null)
    try {
      const t = await api.updateTicket(ticket.id, body)
      onChange(t)
      setDone(`${label} saved.`)
    } catch (e) {
      setError(e)
    } finally {
      setBusy(null)
    }
  }

  const moves = nextStatuses(ticket.status)
  const corrections: { priority?: Priority; category?: string } = {}
  if (priority && priority !== ticket.priority) corrections.priority = priority
  if (category.trim() && category.trim() !== ticket.category) corrections.category = category.trim()

  return (
    <section className="card" aria-labelledby="actions-title">
      <h2 id="actions-title">Work on this ticket</h2>
      <ErrorAlert error={error} />
      {done && <Alert kind="success">{done}</Alert>}
      {moves.length > 0 ? (
        <div className="form-actions" style={{ marginTop: 0, marginBottom: '0.9rem' }}>
          {moves.map((m) => (
            <button key={m} type="button" className={`btn ${m === 'closed' ? 'btn-secondary' : ''}`} disabled={busy !== null}
              onClick={() => patch('Status', { status: m })} data-status-action={m}>
              {m === 'in_progress' ? 'Start work' : m === 'resolved' ? 'Mark resolved' : m === 'open' ? 'Reopen' : 'Close'}
            </button>
          ))}
        </div>
      ) : (
        <p className="muted">This ticket is closed.</p>
      )}
      <form
        onSubmit={(e: FormEvent) => { e.preventDefault(); if (Object.keys(corrections).length) void patch('Correction', corrections) }}
        aria-label="Correct triage"
        noValidate
      >
        <Field label="Priority">
          {(p) => (
            <select {...p} value={priority} onChange={(e) => setPriority(e.target.value as Priority)}>
              {!ticket.priority && <option value="">Not set</option>}
              {PRIORITIES.map((x) => <option key={x} value={x}>{priorityLabel(x)}</option>)}
            </select>
          )}
        </Field>
        <Field label="Category" hint={categories ? undefined : 'Type the exact category name (suggestions come from your tickets).'}>
          {(p) => categories ? (
            <select {...p} value={category} onChange={(e) => setCategory(e.target.value)}>
              {!ticket.category && <option value="">Not set</option>}
              {ticket.category && !categories.some((c) => c.name === ticket.category) && <option value={ticket.category}>{ticket.category}</option>}
              {categories.map((c) => <option key={c.name} value={c.name}>{c.name}</option>)}
            </select>
          ) : (
            <>
              <input {...p} type="text" value={category} maxLength={64} list="category-suggestions" onChange={(e) => setCategory(e.target.value)} />
              <datalist id="category-suggestions">{suggestions.map((c) => <option key={c} value={c} />)}</datalist>
            </>
          )}
        </Field>
        <button type="submit" className="btn btn-secondary" disabled={busy !== null || Object.keys(corrections).length === 0}>
          {busy === 'Correction' ? <><Spinner /> Saving…</> : 'Save correction'}
        </button>
        <p className="muted small" style={{ marginTop: '0.5rem' }}>Corrections teach the triage model.</p>
      </form>
      {isAdmin && (
        <form onSubmit={(e: FormEvent) => { e.preventDefault(); if (assignee && assignee !== ticket.assigned_to?.id) void patch('Assignee', { assigned_to: assignee }) }} aria-label="Reassign" noValidate>
          <Field label="Assignee">
            {(p) => (
              <select {...p} value={assignee} onChange={(e) => setAssignee(e.target.value)}>
                {!ticket.assigned_to && <option value="">Unassigned</option>}
                {ticket.assigned_to && !staff.some((s) => s.id === ticket.assigned_to?.id) && (
                  <option value={ticket.assigned_to.id}>{personName(ticket.assigned_to)}</option>
                )}
                {staff.map((s) => <option key={s.id} value={s.id}>{s.name || s.email} ({s.role})</option>)}
              </select>
            )}
          </Field>
          <button type="submit" className="btn btn-secondary" disabled={busy !== null || !assignee || assignee === ticket.assigned_to?.id}>Reassign</button>
        </form>
      )}
    </section>
  )
}

function RequesterActions({ ticket, onChange }: { ticket: Ticket; onChange: (t: Ticket) => void }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  async function move(status: Status) {
    setBusy(true)
    setError(null)
    try {
      onChange(await api.updateTicket(ticket.id, { status }))
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }
  const moves = requesterMoves(ticket.status)
  if (moves.length === 0) return null
  return (
    <section className="card" aria-labelledby="req-actions">
      <h2 id="req-actions">Your ticket</h2>
      <ErrorAlert error={error} />
      {ticket.status === 'resolved' && <p>We think this is solved. Still a problem? Reopen it.</p>}
      <div className="form-actions" style={{ marginTop: 0 }}>
        {moves.includes('open') && (
          <button type="button" className="btn" onClick={() => move('open')} disabled={busy}>Reopen</button>
        )}
        {moves.includes('closed') && (
          <button type="button" className="btn btn-secondary" onClick={() => move('closed')} disabled={busy}>Close ticket</button>
        )}
      </div>
    </section>
  )
}

/** Files that came by mail; hidden when there are none. */
function Attachments({ ticketId }: { ticketId: string }) {
  const [items, setItems] = useState<Attachment[]>([])
  const [error, setError] = useState<unknown>(null)
  useEffect(() => {
    api.attachments(ticketId).then(setItems, () => setItems([]))
  }, [ticketId])
  if (items.length === 0) return null

  async function download(a: Attachment) {
    setError(null)
    try {
      const url = URL.createObjectURL(await api.attachmentBlob(ticketId, a.id))
      const link = document.createElement('a')
      link.href = url
      link.download = a.filename
      link.click()
      URL.revokeObjectURL(url)
    } catch (err) {
      setError(err)
    }
  }

  return (
    <section className="card" aria-labelledby="attachments-title">
      <h2 id="attachments-title">Attachments</h2>
      <ul data-testid="attachments">
        {items.map((a) => (
          <li key={a.id}>
            <button type="button" className="btn btn-secondary" onClick={() => download(a)}>{a.filename}</button>{' '}
            <span className="muted">{Math.max(1, Math.round(a.size / 1024))} KiB</span>
          </li>
        ))}
      </ul>
      {error !== null && <p role="alert">Could not download the file.</p>}
    </section>
  )
}

function Comments({ ticketId, canInternal, canComment = true, myId, closed }: { ticketId: string; canInternal: boolean; canComment?: boolean; myId: string | null; closed: boolean }) {
  const [comments, setComments] = useState<Comment[] | null>(null)
  const [loadError, setLoadError] = useState<unknown>(null)
  const [body, setBody, clearBody] = useDraft(`comment.${ticketId}`)
  const [internal, setInternal] = useState(false)
  const [fieldError, setFieldError] = useState<string | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)

  const load = useCallback(() => {
    setLoadError(null)
    api.comments(ticketId).then(
      (c) => setComments([...c].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at))),
      (e) => { setLoadError(e); setComments((c) => c ?? []) },
    )
  }, [ticketId])
  useEffect(load, [load])

  async function submit(e: FormEvent) {
    e.preventDefault()
    const v = validateComment(body)
    setFieldError(v)
    setError(null)
    if (v) return
    setBusy(true)
    try {
      const c = await api.addComment(ticketId, { body: body.trim(), internal: canInternal && internal })
      setComments((cs) => [...(cs ?? []), c])
      clearBody()
      setInternal(false)
    } catch (err) {
      setError(err)
      if (err instanceof ApiError) setFieldError(err.fieldErrors().body ?? null)
    } finally {
      setBusy(false)
    }
  }

  return (
    <section className="card" aria-labelledby="comments-title">
      <div className="card-head">
        <h2 id="comments-title">Conversation</h2>
        <button type="button" className="btn btn-ghost btn-small" onClick={load}>Refresh</button>
      </div>
      <ErrorAlert error={loadError} onRetry={load} />
      {comments === null ? (
        <Loading label="Loading comments…" />
      ) : comments.length === 0 ? (
        <p className="muted">No comments yet.</p>
      ) : (
        <ol style={{ listStyle: 'none', padding: 0, margin: '0 0 1rem' }} data-testid="comments">
          {comments.map((c) => {
            const a = commentAuthor(c)
            return (
              <li key={c.id} className={`comment ${c.internal ? 'internal' : ''}`}>
                <header>
                  <strong>{a.id && a.id === myId ? 'You' : a.label}</strong>
                  <When iso={c.created_at} />
                  {c.internal && <span className="badge badge-medium">Internal note</span>}
                </header>
                <div className="body">{c.body}</div>
              </li>
            )
          })}
        </ol>
      )}
      {!closed && !canComment && <p className="muted">You can reply once the ticket is assigned to you.</p>}
      {!closed && canComment && (
        <form onSubmit={submit} noValidate aria-label="Add a comment">
          <ErrorAlert error={error} />
          <Field label={canInternal && internal ? 'Internal note' : 'Add a comment'} error={fieldError} hint={canInternal ? (internal ? 'Only staff can see internal notes.' : 'The requester will see this reply.') : undefined}>
            {(p) => <textarea {...p} name="comment" rows={4} value={body} onChange={(e) => setBody(e.target.value)} />}
          </Field>
          <div className="form-actions">
            <button type="submit" className="btn" disabled={busy}>{busy ? <><Spinner /> Sending…</> : internal ? 'Add internal note' : 'Send reply'}</button>
            {canInternal && (
              <label className="check">
                <input type="checkbox" name="internal" checked={internal} onChange={(e) => setInternal(e.target.checked)} /> Internal (staff only)
              </label>
            )}
          </div>
        </form>
      )}
    </section>
  )
}

export function TicketPage() {
  const { id = '' } = useParams()
  const location = useLocation()
  const { role, userId } = useAuth()
  const [ticket, setTicket] = useState<Ticket | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [retriaging, setRetriaging] = useState(false)
  const [actionError, setActionError] = useState<unknown>(null)
  useDocumentTitle(ticket ? ticket.title : 'Ticket')
  const created = (location.state as { created?: boolean } | null)?.created

  const load = useCallback(async () => {
    try {
      const t = await api.ticket(id)
      setTicket(t)
      setError(null)
    } catch (e) {
      setError(e)
    }
  }, [id])
  useEffect(() => { setTicket(null); void load() }, [load])
  // The triage result arrives asynchronously: poll while it is pending.
  usePolling(load, 2000, ticket?.triage.state === 'pending')

  if (error && !ticket) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 422)) {
      return <Empty icon="search" title="Ticket not found"><p>It may not exist, or it is not yours to see. <Link to="/">Back to your tickets</Link></p></Empty>
    }
    return <ErrorAlert error={error} onRetry={() => void load()} />
  }
  if (!ticket) return <Loading label="Loading ticket…" />

  const isAdmin = role === 'admin'
  const canManage = isAdmin || (role === 'moderator' && ticket.assigned_to?.id === userId)
  const isCreator = ticket.created_by.id === userId
  // a moderator the ticket waits for may read it; it becomes theirs to work at their next free slot
  const waitingForMe = role === 'moderator' && !canManage && !isCreator && waitsFor(ticket, userId)
  const overdue = isOverdue(ticket)

  async function retriage() {
    setRetriaging(true)
    setActionError(null)
    try {
      const res = await api.retriage(ticket!.id)
      // The API answers with the ticket (its triage pending again); otherwise mark it pending here.
      if (res && typeof res === 'object' && 'id' in res && 'triage' in res) setTicket(res as Ticket)
      else setTicket((t) => (t ? { ...t, triage: { ...t.triage, state: 'pending' } } : t))
    } catch (e) {
      setActionError(e)
    } finally {
      setRetriaging(false)
    }
  }

  return (
    <>
      <p style={{ marginBottom: '0.5rem' }}>
        <Link to={waitingForMe ? '/queue?view=waiting' : canManage && role === 'moderator' ? '/queue' : isAdmin && !isCreator ? '/admin/tickets' : '/tickets'}>← Back to list</Link>
      </p>
      {created && ticket.triage.state === 'pending' && <Alert kind="success">Ticket submitted. Triage is running; this page updates by itself.</Alert>}
      <div className="page-head">
        <div>
          <h1 data-testid="ticket-title">{ticket.title}</h1>
          <div className="chips" style={{ gap: '0.4rem' }}>
            <span data-testid="ticket-status"><StatusBadge status={ticket.status} /></span>
            <span data-testid="ticket-priority"><PriorityBadge priority={ticket.priority} /></span>
            <TriageBadge state={ticket.triage.state} />
            {overdue && <span className="badge badge-overdue">Overdue</span>}
          </div>
        </div>
      </div>
      <ErrorAlert error={actionError} />
      <div className="grid-2">
        <div>
          <section className="card" aria-labelledby="desc-title">
            <h2 id="desc-title">Description</h2>
            <p className="description">{ticket.description}</p>
          </section>
          <TicketIncident ticketId={ticket.id} />
          <AiPanel ticket={ticket} isAdmin={isAdmin} userId={userId} onRetriage={retriage} retriaging={retriaging} />
          {isAdmin && <DecisionLog ticketId={ticket.id} triageState={ticket.triage.state} />}
          <Attachments ticketId={ticket.id} />
          <Comments ticketId={ticket.id} canInternal={canManage} canComment={canManage || isCreator} myId={userId} closed={ticket.status === 'closed'} />
        </div>
        <div>
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
          {canManage ? (
            <StaffActions ticket={ticket} isAdmin={isAdmin} onChange={setTicket} />
          ) : isCreator ? (
            <RequesterActions ticket={ticket} onChange={setTicket} />
          ) : null}
        </div>
      </div>
    </>
  )
}
