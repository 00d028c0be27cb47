import { useMutation, useQuery } from '@tanstack/react-query'
import { useEffect, useState, type FormEvent } from 'react'
import { PRIORITIES, type Priority, type Ticket, type TicketUpdate } from '../../../api/types'
import { priorityLabel } from '../../../common/format'
import { Alert, ErrorAlert, Field, Spinner } from '../../../common/ui'
import { triageApi, triageKeys } from '../../triage/api'
import { usersApi, usersKeys } from '../../users/api'
import { ticketKeys, ticketsApi } from '../api'
import { nextStatuses } from '../workflow'
import { personName } from './people'

/** The assigned moderator's and admins' moves: status, triage corrections, reassignment. */
export function StaffActions({ ticket, isAdmin, onChange }: { ticket: Ticket; isAdmin: boolean; onChange: (t: Ticket) => void }) {
  const [priority, setPriority] = useState<Priority | ''>(ticket.priority ?? '')
  const [category, setCategory] = useState(ticket.category ?? '')
  const [assignee, setAssignee] = useState(ticket.assigned_to?.id ?? '')
  const [done, setDone] = useState<string | null>(null)

  useEffect(() => {
    setPriority(ticket.priority ?? '')
    setCategory(ticket.category ?? '')
    setAssignee(ticket.assigned_to?.id ?? '')
  }, [ticket.priority, ticket.category, ticket.assigned_to?.id, ticket.status])

  // Only admins may read the configured categories; moderators get suggestions from their own tickets.
  const configured = useQuery({ queryKey: triageKeys.categories, queryFn: triageApi.categories })
  const categories = configured.data?.categories ?? null
  const suggestions = useQuery({
    queryKey: ticketKeys.categorySuggestions,
    queryFn: async () => {
      const p = await ticketsApi.tickets({ assigned_to: 'me', limit: 100 })
      return [...new Set(p.items.map((t) => t.category).filter((c): c is string => Boolean(c)))].sort()
    },
    enabled: configured.isError,
  }).data ?? []
  const staff = useQuery({ queryKey: usersKeys.staff, queryFn: usersApi.staff, enabled: isAdmin }).data ?? []

  const save = useMutation({
    mutationFn: ({ body }: { label: string; body: TicketUpdate }) => ticketsApi.updateTicket(ticket.id, body),
    onSuccess: (t, { label }) => { onChange(t); setDone(`${label} saved.`) },
  })
  const busy = save.isPending ? save.variables.label : null
  const error = save.error
  function patch(label: string, body: TicketUpdate) {
    setDone(null)
    save.mutate({ label, body })
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
