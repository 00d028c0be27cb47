export type Role = 'user' | 'moderator' | 'admin'
export type Status = 'open' | 'in_progress' | 'resolved' | 'closed'
export type Priority = 'low' | 'medium' | 'high'
export type TriageState = 'pending' | 'done' | 'failed' | 'waiting'

export const STATUSES: Status[] = ['open', 'in_progress', 'resolved', 'closed']
export const PRIORITIES: Priority[] = ['low', 'medium', 'high']
export const ROLES: Role[] = ['user', 'moderator', 'admin']

export interface User {
  id: string
  email: string
  name: string | null
  role: Role
  skills: string[]
  /** false until the owner follows the link of the verification mail (then staff roles are possible) */
  email_verified?: boolean
  created_at: string
}

export interface AuthResponse {
  token: string
  token_type: string
  expires_in: number
  user: User
}

export interface PersonRef {
  id: string
  name: string | null
  email: string
}

export interface Triage {
  state: TriageState
  summary?: string | null
  provider?: string | null
  model?: string | null
  confidence?: number | null
  assignment_reason?: string | null
  triaged_at?: string | null
  /** Staff only: while waiting, the moderators (ids) whose first free slot takes it. */
  waiting_for?: string[]
}

export interface Ticket {
  id: string
  title: string
  description: string
  status: Status
  priority: Priority | null
  category: string | null
  created_by: PersonRef
  assigned_to: PersonRef | null
  due_at: string | null
  created_at: string
  updated_at: string
  triage: Triage
  related_skills?: string[]
  helpful_notes?: string | null
}

export interface Comment {
  id: string
  body: string
  internal: boolean
  author?: PersonRef | null
  created_at: string
}

/** A file that came with a mailed ticket or reply (GET /api/tickets/{id}/attachments). */
export interface Attachment {
  id: string
  filename: string
  content_type: string
  size: number
  comment_id: string | null
  created_at: string
}

export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

export interface Category {
  name: string
  description: string
}

export interface Example {
  title: string
  description: string
  category: string
  priority: Priority
  skills: string[]
}

export interface ModelStatus {
  version: number | null
  trained_at: string | null
  examples: number | null
  metrics: { category_accuracy: number | null; priority_accuracy: number | null } | null
  training?: boolean
  provider?: 'local' | 'gemini'
  gemini_model?: string | null
}

export interface Decision {
  id: string
  ticket_id: string
  attempt: number
  outcome: string
  provider: string | null
  model: string | null
  model_version: number | null
  category: string | null
  priority: string | null
  related_skills: string[]
  summary: string | null
  confidence: number | null
  assignee_id: string | null
  assignee_name: string | null
  assignment_reason: string
  created_at: string
}

export interface Preferences {
  ticket_assigned: boolean
  ticket_resolved: boolean
  triage_failed: boolean
  welcome: boolean
}

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

export interface Durations {
  count: number
  p50_seconds: number | null
  p90_seconds: number | null
}

export interface ModeratorLoad {
  id: string
  name: string | null
  email: string | null
  open: number
  in_progress: number
  overdue: number
}

/** GET /api/stats: every ticket (admins) or those assigned to the caller (moderators). */
export interface Stats {
  scope: 'all' | 'assigned_to_me'
  from: string
  to: string
  generated_at: string
  created: number
  per_day: { day: string; count: number }[]
  by_status: Record<Status, number>
  by_priority: Record<Priority | 'none', number>
  by_category: { category: string | null; count: number }[]
  time_to_triage: Durations
  time_to_resolve: Durations
  open: { open: number; in_progress: number }
  overdue: { total: number; by_priority: Record<Priority | 'none', number> }
  load: ModeratorLoad[]
  triage: { pending: number; waiting: number; failed: number; oldest_waiting_at: string | null }
  dead_letters: { open: number } | null
}
