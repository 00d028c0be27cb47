import { useEffect, useState } from 'react'
import { Link } from 'react-router-dom'
import { When } from '../../components/ui'
import { incidentsApi, isKnownProblem, type Incident, type KnownProblem } from './api'

/** On a ticket's page: the incident it is part of. A requester reads "part of a known problem" and
 * the public updates; staff who work the incident get its size and a link to it. Nothing when none. */
export function TicketIncident({ ticketId }: { ticketId: string }) {
  const [incident, setIncident] = useState<Incident | KnownProblem | null>(null)
  useEffect(() => {
    let live = true
    incidentsApi
      .ofTicket(ticketId)
      .then((x) => { if (live) setIncident(x) })
      .catch(() => { /* in no incident (404), or not to be seen: nothing to show */ })
    return () => { live = false }
  }, [ticketId])
  if (!incident) return null
  if (isKnownProblem(incident)) {
    return (
      <section className="card" aria-labelledby="incident-title" data-testid="known-problem">
        <h2 id="incident-title">Part of a known problem</h2>
        <p><strong>{incident.title}</strong> — {incident.status === 'open' ? 'we are working on it; you need not do anything.' : 'this problem has been resolved.'}</p>
        {incident.updates.length > 0 && (
          <ul className="plain-list">
            {incident.updates.map((u) => (
              <li key={u.created_at}><When iso={u.created_at} />: {u.body}</li>
            ))}
          </ul>
        )}
      </section>
    )
  }
  return (
    <section className="card" aria-labelledby="incident-title" data-testid="ticket-incident">
      <h2 id="incident-title">Incident</h2>
      <p>
        Part of <Link to={`/incidents/${incident.id}`}>{incident.title}</Link> ({incident.size} tickets, {incident.status}
        {incident.owner ? `, owned by ${incident.owner.name || incident.owner.email}` : ''}). Work the incident, not this copy.
      </p>
    </section>
  )
}
