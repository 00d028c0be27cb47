import type { Status } from '../../api/types'

/** Moves staff may make (open→in_progress→resolved→closed, resolved→open, any→closed). */
export function nextStatuses(s: Status): Status[] {
  switch (s) {
    case 'open': return ['in_progress', 'closed']
    case 'in_progress': return ['resolved', 'closed']
    case 'resolved': return ['closed', 'open']
    case 'closed': return []
  }
}

/** What the requester may do with their own ticket: close it, or reopen it once resolved. */
export function requesterMoves(s: Status): Status[] {
  if (s === 'closed') return []
  return s === 'resolved' ? ['open', 'closed'] : ['closed']
}
