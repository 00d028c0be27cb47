import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { Link, useParams } from 'react-router-dom'
import { useDocumentTitle } from '../../common/hooks'
import { Alert, ErrorAlert, Field, Loading, PriorityBadge, StatusBadge, When } from '../../common/ui'
import { incidentKeys, incidentsApi, type Incident } from './api'
import { SizeLine } from './SizeLine'

/** /incidents/:id — one incident for staff: its tickets (detach), merge another in, public
 * updates, resolve (every ticket resolved with one public comment, one mail per requester). */
export function IncidentPage() {
  const { id = '' } = useParams()
  const queryClient = useQueryClient()
  const incident = useQuery({ queryKey: incidentKeys.one(id), queryFn: () => incidentsApi.get(id) })
  const members = useQuery({ queryKey: incidentKeys.members(id), queryFn: () => incidentsApi.members(id) })
  const log = useQuery({ queryKey: incidentKeys.log(id), queryFn: () => incidentsApi.log(id) })
  const [comment, setComment] = useState('')
  const [update, setUpdate] = useState('')
  const [source, setSource] = useState('')
  useDocumentTitle(incident.data ? `Incident: ${incident.data.title}` : 'Incident')

  const changed = (_: Incident) => void queryClient.invalidateQueries({ queryKey: ['incidents'] })
  const detach = useMutation({ mutationFn: (ticketId: string) => incidentsApi.detach(id, { ticket_id: ticketId }), onSuccess: changed })
  const merge = useMutation({ mutationFn: () => incidentsApi.merge(id, { source_id: source.trim() }), onSuccess: (i) => { setSource(''); changed(i) } })
  const post = useMutation({ mutationFn: () => incidentsApi.postUpdate(id, { body: update.trim() }), onSuccess: (i) => { setUpdate(''); changed(i) } })
  const resolve = useMutation({ mutationFn: () => incidentsApi.resolve(id, { comment: comment.trim() }), onSuccess: changed })
  const busy = detach.isPending || merge.isPending || post.isPending || resolve.isPending

  const data = incident.data
  if (!data) return incident.error ? <ErrorAlert error={incident.error} onRetry={() => void incident.refetch()} /> : <Loading label="Loading the incident…" />
  const open = data.status === 'open'
  return (
    <>
      <p style={{ marginBottom: '0.5rem' }}><Link to="/incidents">← Incidents</Link></p>
      <div className="page-head">
        <div>
          <h1 data-testid="incident-title">{data.title}</h1>
          <p>
            {data.size} ticket{data.size === 1 ? '' : 's'}, {data.status}
            {data.owner ? `, owned by ${data.owner.name || data.owner.email}` : ''} <PriorityBadge priority={data.priority} />
          </p>
          {data.summary && <p className="muted">{data.summary}</p>}
        </div>
        <SizeLine history={data.size_history} size={data.size} width={240} height={40} />
      </div>
      {[detach.error, merge.error, post.error, resolve.error].map((e, i) => <ErrorAlert key={i} error={e} />)}
      {data.status === 'merged' && data.merged_into && (
        <Alert kind="info">Merged into <Link to={`/incidents/${data.merged_into}`}>another incident</Link>.</Alert>
      )}
      <div className="grid-2">
        <div>
          <section className="card" aria-labelledby="members-title">
            <h2 id="members-title">Tickets</h2>
            <ErrorAlert error={members.error} />
            <div className="table-wrap">
              <table className="data responsive" data-testid="incident-members">
                <thead><tr><th scope="col">Ticket</th><th scope="col">Status</th><th scope="col">Requester</th><th scope="col">Why</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr></thead>
                <tbody>
                  {(members.data ?? []).map((m) => (
                    <tr key={m.id}>
                      <td className="title-cell"><span title={m.description}>{m.title}</span> <div className="sub"><When iso={m.created_at} /></div></td>
                      <td data-label="Status"><StatusBadge status={m.status} /></td>
                      <td data-label="Requester">{m.created_by.name || m.created_by.email}</td>
                      <td data-label="Why" className="small muted">{m.reason ?? 'first ticket'}</td>
                      <td>{open && <button type="button" className="btn btn-secondary btn-small" disabled={busy} onClick={() => detach.mutate(m.id)}>Not the same</button>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
          <section className="card" aria-labelledby="log-title">
            <h2 id="log-title">Record</h2>
            <ul className="small">
              {(log.data ?? []).map((e, i) => (
                <li key={i}><When iso={e.created_at} /> {e.kind}{e.actor_name ? ` by ${e.actor_name}` : ''} — {e.size} ticket{e.size === 1 ? '' : 's'}{e.detail ? `: ${e.detail}` : ''}{e.body ? ` “${e.body}”` : ''}</li>
              ))}
            </ul>
          </section>
        </div>
        {open && (
          <div>
            <section className="card" aria-labelledby="resolve-title">
              <h2 id="resolve-title">Resolve</h2>
              <p className="muted small">Every ticket is resolved with this public comment; each requester gets one mail.</p>
              <Field label="Public comment">{(p) => <textarea {...p} value={comment} onChange={(e) => setComment(e.target.value)} rows={4} />}</Field>
              <button type="button" className="btn" disabled={busy || !comment.trim()} onClick={() => resolve.mutate()}>Resolve all {data.size}</button>
            </section>
            <section className="card" aria-labelledby="update-title">
              <h2 id="update-title">Public update</h2>
              <Field label="What requesters see on their ticket">{(p) => <textarea {...p} value={update} onChange={(e) => setUpdate(e.target.value)} rows={3} />}</Field>
              <button type="button" className="btn btn-secondary" disabled={busy || !update.trim()} onClick={() => post.mutate()}>Post</button>
            </section>
            <section className="card" aria-labelledby="merge-title">
              <h2 id="merge-title">Merge another incident into this one</h2>
              <Field label="Incident id">{(p) => <input {...p} value={source} onChange={(e) => setSource(e.target.value)} />}</Field>
              <button type="button" className="btn btn-secondary" disabled={busy || !source.trim()} onClick={() => merge.mutate()}>Merge</button>
            </section>
          </div>
        )}
      </div>
    </>
  )
}
