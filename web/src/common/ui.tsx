import { useId, type ReactNode } from 'react'
import { ApiError } from '../api/errors'
import type { Priority, Status, TriageState } from '../api/types'
import { formatDateTime, priorityLabel, relativeTime, statusLabel } from './format'

export function Spinner({ label }: { label?: string }) {
  return <span className="spinner" role={label ? 'status' : undefined} aria-label={label} />
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {label}
    </div>
  )
}

const ICONS: Record<string, ReactNode> = {
  inbox: <path d="M3 13h5l1.5 3h5L16 13h5M5 5h14l2 8v6H3v-6z" />,
  search: <><circle cx="11" cy="11" r="6" /><path d="m20 20-4.5-4.5" /></>,
  lock: <><rect x="5" y="11" width="14" height="9" rx="2" /><path d="M8 11V8a4 4 0 0 1 8 0v3" /></>,
  chart: <path d="M4 20V10M10 20V4M16 20v-7M22 20H2" />,
  user: <><circle cx="12" cy="8" r="4" /><path d="M4 21a8 8 0 0 1 16 0" /></>,
  compass: <><circle cx="12" cy="12" r="9" /><path d="m15 9-2 4-4 2 2-4z" /></>,
}

export type IconName = keyof typeof ICONS

export function Empty({ icon = 'inbox', title, children }: { icon?: IconName; title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <span className="icon" aria-hidden="true">
        <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">{ICONS[icon] ?? ICONS.inbox}</svg>
      </span>
      <h3>{title}</h3>
      {children}
    </div>
  )
}

/** Shows an API error: title, detail and each validation message. */
export function ErrorAlert({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null
  let title = 'Something went wrong.'
  let detail: string | null = null
  let items: string[] = []
  if (error instanceof ApiError) {
    title = error.title
    detail = error.detail && error.detail !== error.title ? error.detail : null
    items = error.errors
      .map((e) => {
        const field = e.loc.filter((p) => p !== 'body' && p !== 'query').join('.')
        return field ? `${field}: ${e.msg}` : e.msg
      })
      .filter((m) => m !== detail && !(detail && m.endsWith(detail)))
    if (error.status === 429 && error.retryAfter != null) detail = `${detail ? detail + ' ' : ''}Try again in ${error.retryAfter} s.`
  } else if (error instanceof Error) {
    title = error.message
  } else if (typeof error === 'string') {
    title = error
  }
  return (
    <div className="alert alert-error" role="alert">
      <strong>{title}</strong>
      {detail && <div>{detail}</div>}
      {items.length > 0 && (
        <ul>
          {items.map((m, i) => <li key={i}>{m}</li>)}
        </ul>
      )}
      {onRetry && (
        <div className="form-actions">
          <button type="button" className="btn btn-secondary btn-small" onClick={onRetry}>Try again</button>
        </div>
      )}
    </div>
  )
}

export function Alert({ kind, children }: { kind: 'success' | 'info' | 'warn' | 'error'; children: ReactNode }) {
  return (
    <div className={`alert alert-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </div>
  )
}

export function StatusBadge({ status }: { status: Status }) {
  return <span className={`badge badge-${status}`}>{statusLabel(status)}</span>
}

export function PriorityBadge({ priority }: { priority: Priority | null }) {
  return <span className={`badge badge-${priority ?? 'none'}`}>{priority ? priorityLabel(priority) : 'No priority'}</span>
}

export function TriageBadge({ state }: { state: TriageState }) {
  const label = state === 'pending' ? 'Triage pending' : state === 'done' ? 'Triaged' : state === 'waiting' ? 'Waiting for a free moderator' : 'Triage failed'
  return (
    <span className={`badge badge-${state}`} data-triage-state={state}>
      {state === 'pending' && <span className="spinner" aria-hidden="true" style={{ width: '0.7rem', height: '0.7rem', marginRight: 4 }} />}
      {label}
    </span>
  )
}

export function When({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span className="muted">—</span>
  return <time dateTime={iso} title={formatDateTime(iso)}>{relativeTime(iso)}</time>
}

interface FieldProps {
  label: string
  error?: string | null
  hint?: ReactNode
  children: (props: { id: string; 'aria-invalid': boolean; 'aria-describedby'?: string }) => ReactNode
  className?: string
}

/** A labelled control with its hint and error wired to aria attributes. */
export function Field({ label, error, hint, children, className }: FieldProps) {
  const id = useId()
  const hintId = hint ? `${id}-hint` : undefined
  const errId = error ? `${id}-err` : undefined
  const describedBy = [hintId, errId].filter(Boolean).join(' ') || undefined
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': Boolean(error), 'aria-describedby': describedBy })}
      {hint && <span className="hint" id={hintId}>{hint}</span>}
      {error && <span className="error" id={errId}>{error}</span>}
    </div>
  )
}

export function LoadMore({ hasMore, loading, onClick, count }: { hasMore: boolean; loading: boolean; onClick: () => void; count: number }) {
  return (
    <div className="load-more">
      <span className="muted small" aria-live="polite">{count} shown</span>
      {hasMore && (
        <button type="button" className="btn btn-secondary" onClick={onClick} disabled={loading}>
          {loading ? <><Spinner /> Loading…</> : 'Load more'}
        </button>
      )}
    </div>
  )
}

export function Brand() {
  return (
    <span className="brand">
      <span className="brand-mark" aria-hidden="true">✚</span> Helpdesk
    </span>
  )
}
