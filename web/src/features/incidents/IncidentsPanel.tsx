import { useEffect, useState } from 'react'
import { Link } from 'react-router-dom'
import { PriorityBadge } from '../../components/ui'
import { incidentsApi, type Incident } from './api'
import { sizeSteps } from './sizes'

const MAX_SHOWN = 10

/** The dashboard's open incidents, each with its size over time (staff; hidden when none). */
export function IncidentsPanel() {
  const [items, setItems] = useState<Incident[] | null>(null)
  useEffect(() => {
    let live = true
    incidentsApi
      .list({ status: 'open', limit: MAX_SHOWN })
      .then((page) => Promise.all(page.items.map((i) => incidentsApi.get(i.id))))
      .then((full) => { if (live) setItems(full) })
      .catch(() => { /* not staff, or the tickets service away: no panel, the rest of the page stands */ })
    return () => { live = false }
  }, [])
  if (!items || items.length === 0) return null
  const now = Date.now()
  return (
    <section className="card" aria-labelledby="incidents-title" data-testid="incidents-panel">
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
                    <polyline points={sizeSteps(i.size_history ?? [], now, 120, 26)} fill="none" stroke="#0969da" strokeWidth="2" transform="translate(0,1)" />
                  </svg>
                </td>
                <td data-label="Priority"><PriorityBadge priority={i.priority} /></td>
                <td data-label="Owner">{i.owner ? i.owner.name || i.owner.email : 'Unassigned'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}
