import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { Link, useLocation, useParams } from 'react-router-dom'
import { ApiError } from '../../../api/errors'
import type { Ticket } from '../../../api/types'
import { useDocumentTitle } from '../../../common/hooks'
import { Alert, Empty, ErrorAlert, Loading, PriorityBadge, StatusBadge, TriageBadge } from '../../../common/ui'
import { useAuth } from '../../auth/session'
import { ticketKeys, ticketsApi } from '../api'
import { isOverdue } from '../overdue'
import { waitsFor } from '../queue'
import { AiPanel } from './AiPanel'
import { Attachments } from './Attachments'
import { Comments } from './Comments'
import { DecisionLog } from './DecisionLog'
import { RequesterActions } from './RequesterActions'
import { StaffActions } from './StaffActions'
import { TicketDetails } from './TicketDetails'
import { TicketIncident } from './TicketIncident'

/** /tickets/:id — one ticket, for its requester, its moderator and admins. */
export function TicketPage() {
  const { id = '' } = useParams()
  const location = useLocation()
  const { role, userId } = useAuth()
  const queryClient = useQueryClient()
  const loaded = useQuery({
    queryKey: ticketKeys.one(id),
    queryFn: () => ticketsApi.ticket(id),
    // The triage result arrives asynchronously: poll while it is pending.
    refetchInterval: (query) => (query.state.data?.triage.state === 'pending' ? 2000 : false),
    refetchIntervalInBackground: true,
  })
  const ticket = loaded.data
  const setTicket = (update: Ticket | ((t: Ticket | undefined) => Ticket | undefined)) =>
    queryClient.setQueryData<Ticket>(ticketKeys.one(id), update)
  const retriage = useMutation({
    mutationFn: ticketsApi.retriage,
    onSuccess: (res) => {
      // The API answers with the ticket (its triage pending again); otherwise mark it pending here.
      if (res && typeof res === 'object' && 'id' in res && 'triage' in res) setTicket(res as Ticket)
      else setTicket((t) => (t ? { ...t, triage: { ...t.triage, state: 'pending' } } : t))
    },
  })
  useDocumentTitle(ticket ? ticket.title : 'Ticket')
  const created = (location.state as { created?: boolean } | null)?.created

  if (loaded.error && !ticket) {
    const error = loaded.error
    if (error instanceof ApiError && (error.status === 404 || error.status === 422)) {
      return <Empty icon="search" title="Ticket not found"><p>It may not exist, or it is not yours to see. <Link to="/">Back to your tickets</Link></p></Empty>
    }
    return <ErrorAlert error={error} onRetry={() => void loaded.refetch()} />
  }
  if (!ticket) return <Loading label="Loading ticket…" />

  const isAdmin = role === 'admin'
  const canManage = isAdmin || (role === 'moderator' && ticket.assigned_to?.id === userId)
  const isCreator = ticket.created_by.id === userId
  // a moderator the ticket waits for may read it; it becomes theirs to work at their next free slot
  const waitingForMe = role === 'moderator' && !canManage && !isCreator && waitsFor(ticket, userId)
  const overdue = isOverdue(ticket)

  return (
    <>
      <p style={{ marginBottom: '0.5rem' }}>
        <Link to={waitingForMe ? '/queue?view=waiting' : canManage && role === 'moderator' ? '/queue' : isAdmin && !isCreator ? '/admin/tickets' : '/tickets'}>← Back to list</Link>
      </p>
      {created && ticket.triage.state === 'pending' && <Alert kind="success">Ticket submitted. Triage is running; this page updates by itself.</Alert>}
      <div className="page-head">
        <div>
          <h1 data-testid="ticket-title">{ticket.title}</h1>
          <div className="chips" style={{ gap: '0.4rem' }}>
            <span data-testid="ticket-status"><StatusBadge status={ticket.status} /></span>
            <span data-testid="ticket-priority"><PriorityBadge priority={ticket.priority} /></span>
            <TriageBadge state={ticket.triage.state} />
            {overdue && <span className="badge badge-overdue">Overdue</span>}
          </div>
        </div>
      </div>
      <ErrorAlert error={retriage.error} />
      <div className="grid-2">
        <div>
          <section className="card" aria-labelledby="desc-title">
            <h2 id="desc-title">Description</h2>
            <p className="description">{ticket.description}</p>
          </section>
          <TicketIncident ticketId={ticket.id} />
          <AiPanel ticket={ticket} isAdmin={isAdmin} userId={userId} onRetriage={() => retriage.mutate(ticket.id)} retriaging={retriage.isPending} />
          {isAdmin && <DecisionLog ticketId={ticket.id} triageState={ticket.triage.state} />}
          <Attachments ticketId={ticket.id} />
          <Comments ticketId={ticket.id} canInternal={canManage} canComment={canManage || isCreator} myId={userId} closed={ticket.status === 'closed'} />
        </div>
        <div>
          <TicketDetails ticket={ticket} isCreator={isCreator} />
          {canManage ? (
            <StaffActions ticket={ticket} isAdmin={isAdmin} onChange={setTicket} />
          ) : isCreator ? (
            <RequesterActions ticket={ticket} onChange={setTicket} />
          ) : null}
        </div>
      </div>
    </>
  )
}
