import { useCallback, useEffect, useState } from 'react'
import { Link, useParams } from 'react-router-dom'
import { Alert, ErrorAlert, Field, Loading, PriorityBadge, StatusBadge, When } from '../../components/ui'
import { useDocumentTitle } from '../../lib/hooks'
import { incidentsApi, type Incident, type LogEntry, type Member } from './api'
import { sizeSteps } from './sizes'

/** One incident for staff: its members (detach), merge another into it, public updates, resolve. */
export function IncidentPage() {
  const { id = '' } = useParams()
  const [incident, setIncident] = useState<Incident | null>(null)
  const [members, setMembers] = useState<Member[]>([])
  const [log, setLog] = useState<LogEntry[]>([])
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const [comment, setComment] = useState('')
  const [update, setUpdate] = useState('')
  const [source, setSource] = useState('')
  useDocumentTitle(incident ? `Incident: ${incident.title}` : 'Incident')

  const load = useCallback(async () => {
    setError(null)
    try {
      const [i, m, l] = await Promise.all([incidentsApi.get(id), incidentsApi.members(id), incidentsApi.log(id)])
      setIncident(i)
      setMembers(m)
      setLog(l)
    } catch (e) {
      setError(e)
    }
  }, [id])
  useEffect(() => { void load() }, [load])

  const act = async (fn: () => Promise<unknown>) => {
    setBusy(true)
    setError(null)
    try {
      await fn()
      await load()
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }

  if (!incident) return error ? <ErrorAlert error={error} onRetry={() => void load()} /> : <Loading label="Loading the incident…" />
  const open = incident.status === 'open'
  return (
    <>
      <div className="page-head">
        <div>
          <Link to="/admin/dashboard">← Dashboard</Link>
          <h1>{incident.title}</h1>
          <p>
            {incident.size} ticket{incident.size === 1 ? '' : 's'}, {incident.status}
            {incident.owner ? `, owned by ${incident.owner.name || incident.owner.email}` : ''}{' '}
            <PriorityBadge priority={incident.priority} />
          </p>
        </div>
      </div>
      <ErrorAlert error={error} />
      {incident.status === 'merged' && incident.merged_into && (
        <Alert kind="info">Merged into <Link to={`/incidents/${incident.merged_into}`}>another incident</Link>.</Alert>
      )}
      <div className="grid-2">
        <div>
          <section className="card" aria-labelledby="members-title">
            <h2 id="members-title">Tickets</h2>
            <svg viewBox="0 0 300 40" width="300" height="40" role="img" aria-label="Size over time">
              <polyline points={sizeSteps(incident.size_history ?? [], Date.now(), 300, 38)} fill="none" stroke="#0969da" strokeWidth="2" transform="translate(0,1)" />
            </svg>
            <div className="table-wrap">
              <table className="data responsive" data-testid="incident-members">
                <thead><tr><th scope="col">Ticket</th><th scope="col">Status</th><th scope="col">Requester</th><th scope="col">Why</th><th scope="col" /></tr></thead>
                <tbody>
                  {members.map((m) => (
                    <tr key={m.id}>
                      <td className="title-cell"><span title={m.description}>{m.title}</span> <When iso={m.created_at} /></td>
                      <td data-label="Status"><StatusBadge status={m.status} /></td>
                      <td data-label="Requester">{m.created_by.name || m.created_by.email}</td>
                      <td data-label="Why" className="small muted">{m.reason ?? 'first ticket'}</td>
                      <td>{open && <button type="button" className="btn btn-secondary" disabled={busy} onClick={() => void act(() => incidentsApi.detach(id, m.id))}>Not the same</button>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
          <section className="card" aria-labelledby="log-title">
            <h2 id="log-title">Record</h2>
            <ul className="plain-list small">
              {log.map((e, i) => (
                <li key={i}><When iso={e.created_at} /> {e.kind}{e.actor_name ? ` by ${e.actor_name}` : ''} — size {e.size}{e.detail ? `: ${e.detail}` : ''}{e.body ? ` “${e.body}”` : ''}</li>
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
              <button type="button" className="btn" disabled={busy || !comment.trim()} onClick={() => void act(() => incidentsApi.resolve(id, comment.trim()))}>Resolve all {incident.size}</button>
            </section>
            <section className="card" aria-labelledby="update-title">
              <h2 id="update-title">Public update</h2>
              <Field label="What requesters see on their ticket">{(p) => <textarea {...p} value={update} onChange={(e) => setUpdate(e.target.value)} rows={3} />}</Field>
              <button type="button" className="btn btn-secondary" disabled={busy || !update.trim()} onClick={() => void act(async () => { await incidentsApi.postUpdate(id, update.trim()); setUpdate('') })}>Post</button>
            </section>
            <section className="card" aria-labelledby="merge-title">
              <h2 id="merge-title">Merge another incident into this one</h2>
              <Field label="Incident id">{(p) => <input {...p} value={source} onChange={(e) => setSource(e.target.value)} />}</Field>
              <button type="button" className="btn btn-secondary" disabled={busy || !source.trim()} onClick={() => void act(() => incidentsApi.merge(id, source.trim()))}>Merge</button>
            </section>
          </div>
        )}
      </div>
    </>
  )
}
