import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { ApiError } from '../../../api/errors'
import type { Comment } from '../../../api/types'
import { useDraft } from '../../../common/hooks'
import { ErrorAlert, Field, Loading, Spinner, When } from '../../../common/ui'
import { validateComment } from '../../../common/validation'
import { ticketKeys, ticketsApi } from '../api'
import { commentAuthor } from './people'

/** The conversation: public replies, staff's internal notes, and the reply form. */
export function Comments({ ticketId, canInternal, canComment = true, myId, closed }: { ticketId: string; canInternal: boolean; canComment?: boolean; myId: string | null; closed: boolean }) {
  const queryClient = useQueryClient()
  const key = ticketKeys.comments(ticketId)
  const listed = useQuery({
    queryKey: key,
    queryFn: async () => [...(await ticketsApi.comments(ticketId))].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at)),
  })
  const comments = listed.data ?? (listed.isError ? [] : null)
  const load = () => void listed.refetch()
  const [body, setBody, clearBody] = useDraft(`comment.${ticketId}`)
  const [internal, setInternal] = useState(false)
  const [fieldError, setFieldError] = useState<string | null>(null)
  const send = useMutation({
    mutationFn: (comment: { body: string; internal: boolean }) => ticketsApi.addComment(ticketId, comment),
    onSuccess: (c) => {
      queryClient.setQueryData<Comment[]>(key, (cs) => [...(cs ?? []), c])
      clearBody()
      setInternal(false)
    },
    onError: (err) => { if (err instanceof ApiError) setFieldError(err.fieldErrors().body ?? null) },
  })
  const busy = send.isPending

  function submit(e: FormEvent) {
    e.preventDefault()
    const v = validateComment(body)
    setFieldError(v)
    send.reset()
    if (v) return
    send.mutate({ body: body.trim(), internal: canInternal && internal })
  }

  return (
    <section className="card" aria-labelledby="comments-title">
      <div className="card-head">
        <h2 id="comments-title">Conversation</h2>
        <button type="button" className="btn btn-ghost btn-small" onClick={load}>Refresh</button>
      </div>
      <ErrorAlert error={listed.error} onRetry={load} />
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
          <ErrorAlert error={send.error} />
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
