import { buildQuery, request } from '../../api/client'
import type { Schemas } from '../../api/types'

export type Incident = Schemas['IncidentRead']
export type IncidentDetail = Schemas['IncidentDetail']
export type IncidentStatus = Incident['status']
export type Member = Schemas['MemberRead']
export type LogEntry = Schemas['LogEntryRead']
export type KnownProblem = Schemas['KnownProblemRead']
export type SizePoint = Schemas['SizePoint']

const path = (id: string) => `/api/incidents/${encodeURIComponent(id)}`

/** Incidents (staff): a burst of similar tickets worked as one problem by one owner. */
export const incidentsApi = {
  list: (params: { status?: IncidentStatus; cursor?: string | null; limit?: number } = {}) =>
    request<Schemas['IncidentPage']>('GET', `/api/incidents${buildQuery({ status: 'open', limit: 50, ...params })}`),
  get: (id: string) => request<IncidentDetail>('GET', path(id)),
  update: (id: string, body: Schemas['IncidentUpdate']) => request<Incident>('PATCH', path(id), body),
  members: async (id: string) => (await request<Schemas['MemberList']>('GET', `${path(id)}/members`)).items,
  log: async (id: string) => (await request<Schemas['LogList']>('GET', `${path(id)}/log`)).items,
  detach: (id: string, body: Schemas['IncidentDetach']) => request<Incident>('POST', `${path(id)}/detach`, body),
  merge: (id: string, body: Schemas['IncidentMerge']) => request<Incident>('POST', `${path(id)}/merge`, body),
  postUpdate: (id: string, body: Schemas['IncidentPublicUpdate']) => request<Incident>('POST', `${path(id)}/updates`, body),
  resolve: (id: string, body: Schemas['IncidentResolve']) => request<Incident>('POST', `${path(id)}/resolve`, body),
  /** A ticket's incident: the whole incident for staff who work it, else "part of a known problem"
   * and the public updates (404 when the ticket is in none). */
  ofTicket: (ticketId: string) =>
    request<IncidentDetail | KnownProblem>('GET', `/api/tickets/${encodeURIComponent(ticketId)}/incident`),
}

export function isKnownProblem(x: IncidentDetail | KnownProblem): x is KnownProblem {
  return 'known_problem' in x
}

/** The cache keys of incident data. */
export const incidentKeys = {
  list: (status: IncidentStatus) => ['incidents', 'list', status] as const,
  one: (id: string) => ['incidents', 'one', id] as const,
  members: (id: string) => ['incidents', 'members', id] as const,
  log: (id: string) => ['incidents', 'log', id] as const,
  ofTicket: (ticketId: string) => ['incidents', 'of-ticket', ticketId] as const,
}

export { sizeSteps } from './sizes'
