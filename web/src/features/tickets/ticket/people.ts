import type { Comment } from '../../../api/types'

export function personName(p: { name?: string | null; email?: string } | null | undefined): string {
  if (!p) return 'Someone'
  return p.name || p.email || 'Someone'
}

/** The author of a comment, whatever shape an older server answered with. */
export function commentAuthor(c: Comment): { id?: string; label: string } {
  const raw = c as unknown as Record<string, unknown>
  const a = (raw.author ?? raw.created_by ?? raw.user) as { id?: string; name?: string | null; email?: string } | undefined
  if (a && typeof a === 'object') return { id: a.id, label: personName(a) }
  if (typeof raw.author_name === 'string') return { id: raw.author_id as string | undefined, label: raw.author_name }
  if (typeof raw.author_id === 'string') return { id: raw.author_id, label: 'Someone' }
  return { label: 'Someone' }
}
