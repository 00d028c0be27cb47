import { buildQuery, request } from '../../api/client'
import type { Page, PersonRef, Priority, Status } from '../../api/types'

export type IncidentStatus = 'open' | 'resolved' | 'merged'

export interface SizePoint { at: string; size: number }

/** An incident as staff see it (GET /api/incidents/{id}: with its size over time). */
export interface Incident {
  id: string
  title: string
  summary: string | null
  public_title: string | null
  status: IncidentStatus
  category: string | null
  priority: Priority | null
  owner: PersonRef | null
  size: number
  merged_into: string | null
  created_at: string
  updated_at: string
  resolved_at: string | null
  size_history?: SizePoint[]
}

export interface Member {
  id: string
  title: string
  description: string
  status: Status
  created_by: PersonRef
  created_at: string
  reason: string | null
}

export interface LogEntry {
  kind: string
  ticket_id: string | null
  other_incident_id: string | null
  size: number
  actor_name: string | null
  detail: string | null
  body: string | null
  public: boolean
  created_at: string
}

/** What a requester sees of their ticket's incident: that it is known, and the public updates. */
export interface KnownProblem {
  known_problem: true
  title: string
  status: IncidentStatus
  updates: { body: string; created_at: string }[]
}

const path = (id: string) => `/api/incidents/${encodeURIComponent(id)}`

export const incidentsApi = {
  list: (params: { status?: IncidentStatus; cursor?: string | null; limit?: number } = {}) =>
    request<Page<Incident>>('GET', `/api/incidents${buildQuery({ status: 'open', limit: 50, ...params })}`),
  get: (id: string) => request<Incident>('GET', path(id)),
  update: (id: string, body: Partial<Pick<Incident, 'title' | 'summary' | 'public_title' | 'category' | 'priority'>> & { owner_id?: string }) =>
    request<Incident>('PATCH', path(id), body),
  members: async (id: string) => (await request<{ items: Member[] }>('GET', `${path(id)}/members`)).items,
  log: async (id: string) => (await request<{ items: LogEntry[] }>('GET', `${path(id)}/log`)).items,
  detach: (id: string, ticketId: string, note?: string) =>
    request<Incident>('POST', `${path(id)}/detach`, note ? { ticket_id: ticketId, note } : { ticket_id: ticketId }),
  merge: (id: string, sourceId: string) => request<Incident>('POST', `${path(id)}/merge`, { source_id: sourceId }),
  postUpdate: (id: string, body: string) => request<Incident>('POST', `${path(id)}/updates`, { body }),
  resolve: (id: string, comment: string) => request<Incident>('POST', `${path(id)}/resolve`, { comment }),
  /** The incident of a ticket: the whole incident for staff who work it, else the known-problem notice. */
  ofTicket: (ticketId: string) =>
    request<Incident | KnownProblem>('GET', `/api/tickets/${encodeURIComponent(ticketId)}/incident`),
}

export function isKnownProblem(x: Incident | KnownProblem): x is KnownProblem {
  return 'known_problem' in x
}
