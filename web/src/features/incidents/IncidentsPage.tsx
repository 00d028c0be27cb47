import { useState } from 'react'
import { Link } from 'react-router-dom'
import { usePagedQuery } from '../../api/query'
import { useDocumentTitle } from '../../common/hooks'
import { Empty, ErrorAlert, LoadMore, PriorityBadge, When } from '../../common/ui'
import { incidentKeys, incidentsApi, type IncidentStatus } from './api'

/** /incidents — the incidents the caller works (admins: all), newest first. */
export function IncidentsPage() {
  useDocumentTitle('Incidents')
  const [status, setStatus] = useState<IncidentStatus>('open')
  const page = usePagedQuery(incidentKeys.list(status), (cursor) => incidentsApi.list({ status, cursor }))
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Incidents</h1>
          <p>Bursts of similar tickets, each worked as one problem by its owner.</p>
        </div>
        <label>
          <span className="visually-hidden">Status</span>
          <select value={status} onChange={(e) => setStatus(e.target.value as IncidentStatus)}>
            <option value="open">Open</option>
            <option value="resolved">Resolved</option>
            <option value="merged">Merged</option>
          </select>
        </label>
      </div>
      <ErrorAlert error={page.error} onRetry={page.reload} />
      {page.loaded && page.items.length === 0 ? (
        <Empty icon="inbox" title="No incidents"><p>None {status} right now.</p></Empty>
      ) : (
        <div className="table-wrap">
          <table className="data responsive" data-testid="incidents-table">
            <thead><tr><th scope="col">Incident</th><th scope="col">Tickets</th><th scope="col">Priority</th><th scope="col">Owner</th><th scope="col">Opened</th></tr></thead>
            <tbody>
              {page.items.map((i) => (
                <tr key={i.id}>
                  <td className="title-cell"><Link to={`/incidents/${i.id}`}>{i.title}</Link></td>
                  <td data-label="Tickets">{i.size}</td>
                  <td data-label="Priority"><PriorityBadge priority={i.priority} /></td>
                  <td data-label="Owner">{i.owner ? i.owner.name || i.owner.email : 'Unassigned'}</td>
                  <td data-label="Opened"><When iso={i.created_at} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <LoadMore hasMore={page.hasMore} loading={page.loading} onClick={page.loadMore} count={page.items.length} />
    </>
  )
}
