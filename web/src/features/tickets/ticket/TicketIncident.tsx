import { useQuery } from '@tanstack/react-query'
import { Link } from 'react-router-dom'
import { When } from '../../../common/ui'
import { incidentKeys, incidentsApi, isKnownProblem } from '../../incidents/api'

/** The incident a ticket is part of. Its requester reads "part of a known problem" and the public
 * updates (nothing of the other tickets); staff who work the incident get a link to it. */
export function TicketIncident({ ticketId }: { ticketId: string }) {
  // 404 (in no incident) is the usual answer: then nothing shows
  const found = useQuery({ queryKey: incidentKeys.ofTicket(ticketId), queryFn: () => incidentsApi.ofTicket(ticketId) })
  const incident = found.data
  if (!incident) return null
  if (isKnownProblem(incident)) {
    return (
      <section className="card" aria-labelledby="incident-title" data-testid="known-problem">
        <h2 id="incident-title">Part of a known problem</h2>
        <p>
          <strong>{incident.title}</strong> —{' '}
          {incident.status === 'open' ? 'others reported it too and we are working on it; there is nothing more you need to do.' : 'this problem has been resolved.'}
        </p>
        {incident.updates.length > 0 && (
          <ul>
            {incident.updates.map((u) => <li key={u.created_at}><When iso={u.created_at} />: {u.body}</li>)}
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
        {incident.owner ? `, owned by ${incident.owner.name || incident.owner.email}` : ''}): work the incident, not this copy.
      </p>
    </section>
  )
}
