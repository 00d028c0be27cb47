/**
 * The API's types under the names the app uses, all taken from `schema.d.ts`: that file is
 * generated from the gateway's OpenAPI document (`bash scripts/web.sh types --write`) and CI fails
 * when it differs from what the backend generates now, so a backend change the client does not
 * follow fails `tsc` here instead of in a browser.
 */
import type { components } from './schema'

export type Schemas = components['schemas']

export type Role = Schemas['UserRead']['role']
export type Status = Schemas['TicketRead']['status']
export type Priority = NonNullable<Schemas['TicketRead']['priority']>
export type TriageState = Schemas['TriageRead']['state']

// Records keyed by the API's unions: `tsc` fails when the API adds or drops a value (order = display order).
const STATUS_ORDER: Record<Status, number> = { open: 0, in_progress: 1, resolved: 2, closed: 3 }
const PRIORITY_ORDER: Record<Priority, number> = { low: 0, medium: 1, high: 2 }
const ROLE_ORDER: Record<Role, number> = { user: 0, moderator: 1, admin: 2 }
export const STATUSES = Object.keys(STATUS_ORDER) as Status[]
export const PRIORITIES = Object.keys(PRIORITY_ORDER) as Priority[]
export const ROLES = Object.keys(ROLE_ORDER) as Role[]

export type User = Schemas['UserRead']
export type AuthResponse = Schemas['TokenOut']
export type PersonRef = Schemas['PersonRead']

/** Requesters get `TriageRead` (the state only); staff get `TriageStaffRead`. */
export type Triage = Schemas['TriageRead'] & Partial<Omit<Schemas['TriageStaffRead'], 'state'>>

/** Requesters get `TicketRead`; staff get `TicketStaffRead` (the AI's notes and skills too). */
export type Ticket = Omit<Schemas['TicketRead'], 'triage'> &
  Partial<Pick<Schemas['TicketStaffRead'], 'related_skills' | 'helpful_notes'>> & { triage: Triage }

export type Comment = Schemas['CommentRead']
export type Attachment = Schemas['AttachmentRead']
export type Decision = Schemas['DecisionRead']
export type Example = Schemas['ExampleIn']
export type ModelStatus = Schemas['ModelRead']
export type Preferences = Schemas['Preferences']
export type Stats = Schemas['StatsRead']
export type TicketUpdate = Schemas['TicketUpdate']
/** As answered: the server fills `description` (default ""). */
export type Category = Schemas['CategoryBase'] & { description: string }

export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

/** The query of GET /api/tickets as the lists build it. */
export interface TicketFilters {
  status?: Status | ''
  priority?: Priority | ''
  category?: string
  assigned_to?: string
  /** `me` or a user id: tickets waiting for that moderator's free slot. */
  waiting_for?: string
  overdue?: boolean
  q?: string
}
