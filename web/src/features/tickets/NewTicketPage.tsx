import { useMutation } from '@tanstack/react-query'
import { useRef, useState, type FormEvent } from 'react'
import { Link, useNavigate } from 'react-router-dom'
import { ApiError } from '../../api/errors'
import { useDocumentTitle, useDraft } from '../../common/hooks'
import { ErrorAlert, Field, Spinner } from '../../common/ui'
import { hasErrors, validateTicket, type Errors } from '../../common/validation'
import { ticketsApi } from './api'

export function NewTicketPage() {
  useDocumentTitle('New ticket')
  const navigate = useNavigate()
  const [title, setTitle, clearTitle] = useDraft('ticket.title')
  const [description, setDescription, clearDescription] = useDraft('ticket.description')
  const [errors, setErrors] = useState<Errors>({})
  // one key per ticket the user means to open: resubmitting the same text after a lost answer
  // (timeout, 502) gets back the ticket already made; changed text is a new ticket, a new key
  const attempt = useRef<{ key: string; body: string } | null>(null)
  const create = useMutation({
    mutationFn: ({ body, key }: { body: { title: string; description: string }; key: string }) => ticketsApi.createTicket(body, key),
    onSuccess: (t) => {
      clearTitle()
      clearDescription()
      navigate(`/tickets/${t.id}`, { state: { created: true } })
    },
    onError: (err) => { if (err instanceof ApiError) setErrors(err.fieldErrors()) },
  })
  // stays busy after success until the ticket's page replaces this one
  const busy = create.isPending || create.isSuccess

  function submit(e: FormEvent) {
    e.preventDefault()
    const errs = validateTicket({ title, description })
    setErrors(errs)
    create.reset()
    if (hasErrors(errs)) return
    const body = { title: title.trim(), description: description.trim() }
    const sent = JSON.stringify(body)
    if (attempt.current?.body !== sent) attempt.current = { key: newKey(), body: sent }
    create.mutate({ body, key: attempt.current.key })
  }

  return (
    <>
      <div className="page-head">
        <div>
          <h1>New ticket</h1>
          <p>Tell us what happened. Our AI triage sorts and routes it to the right person within seconds.</p>
        </div>
      </div>
      <div className="card" style={{ maxWidth: 760 }}>
        <ErrorAlert error={create.error} />
        <form onSubmit={submit} noValidate aria-label="New ticket">
          <Field label="Title" error={errors.title} hint={`${title.trim().length}/200 · a short summary, e.g. "Charged twice for my March invoice"`}>
            {(p) => <input {...p} type="text" name="title" value={title} maxLength={250} onChange={(e) => setTitle(e.target.value)} autoFocus />}
          </Field>
          <Field label="Description" error={errors.description} hint={`${description.trim().length.toLocaleString()}/10,000 · what you expected, what happened, steps, error messages`}>
            {(p) => <textarea {...p} name="description" rows={8} value={description} onChange={(e) => setDescription(e.target.value)} />}
          </Field>
          <div className="form-actions">
            <button type="submit" className="btn" disabled={busy}>{busy ? <><Spinner /> Sending…</> : 'Submit ticket'}</button>
            <Link to="/tickets" className="btn btn-ghost">Cancel</Link>
          </div>
        </form>
      </div>
    </>
  )
}

function newKey(): string {
  // randomUUID needs a secure context (https or localhost); elsewhere 128 random bits will do
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
