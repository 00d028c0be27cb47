import { useQuery } from '@tanstack/react-query'
import { Link } from 'react-router-dom'
import { PriorityBadge } from '../../common/ui'
import { incidentKeys, incidentsApi, sizeSteps } from '../incidents/api'

const SHOWN = 10

/** The open incidents and their size over time (hidden when there are none or they cannot load). */
export function IncidentsCard() {
  const open = useQuery({
    queryKey: [...incidentKeys.list('open'), 'dashboard'],
    // each with its size history (one GET per incident shown, at most SHOWN)
    queryFn: async () => Promise.all((await incidentsApi.list({ status: 'open', limit: SHOWN })).items.map((i) => incidentsApi.get(i.id))),
  })
  const items = open.data ?? []
  if (items.length === 0) return null
  const now = Date.now()
  return (
    <section className="card" aria-labelledby="incidents-title" data-testid="incidents-card">
      <h2 id="incidents-title">Open incidents</h2>
      <div className="table-wrap">
        <table className="data responsive">
          <thead><tr><th scope="col">Incident</th><th scope="col">Tickets</th><th scope="col">Size over time</th><th scope="col">Priority</th><th scope="col">Owner</th></tr></thead>
          <tbody>
            {items.map((i) => (
              <tr key={i.id}>
                <td className="title-cell"><Link to={`/incidents/${i.id}`}>{i.title}</Link></td>
                <td data-label="Tickets">{i.size}</td>
                <td data-label="Size over time" style={{ minWidth: 140 }}>
                  <svg viewBox="0 0 120 28" width="120" height="28" role="img" aria-label={`${i.size} tickets now`}>
                    <polyline points={sizeSteps(i.size_history, now, 120, 26)} fill="none" stroke="#0969da" strokeWidth="2" transform="translate(0,1)" />
                  </svg>
                </td>
                <td data-label="Priority"><PriorityBadge priority={i.priority} /></td>
                <td data-label="Owner">{i.owner ? i.owner.name || i.owner.email : 'Unassigned'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="small"><Link to="/incidents">All incidents</Link></p>
    </section>
  )
}
