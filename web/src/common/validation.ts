import type { Category } from '../api/types'

export type Errors = Record<string, string>

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export function validateEmail(email: string): string | null {
  const e = email.trim()
  if (!e) return 'Enter your email address.'
  if (e.length > 254 || !EMAIL_RE.test(e)) return 'Enter a valid email address, like name@example.com.'
  return null
}

export function validateSignIn(v: { email: string; password: string }): Errors {
  const errors: Errors = {}
  const email = validateEmail(v.email)
  if (email) errors.email = email
  if (!v.password) errors.password = 'Enter your password.'
  return errors
}

export function validateSignUp(v: { email: string; password: string; confirm: string; name: string }): Errors {
  const errors: Errors = {}
  const email = validateEmail(v.email)
  if (email) errors.email = email
  if (v.password.length < 12) errors.password = 'Use at least 12 characters.'
  else if (v.password.length > 128) errors.password = 'Use at most 128 characters.'
  if (v.confirm !== v.password) errors.confirm = 'The passwords do not match.'
  if (v.name.trim().length > 100) errors.name = 'Use at most 100 characters.'
  return errors
}

export function validateTicket(v: { title: string; description: string }): Errors {
  const errors: Errors = {}
  const title = v.title.trim()
  if (title.length < 3) errors.title = 'Write a title of at least 3 characters.'
  else if (title.length > 200) errors.title = 'Keep the title under 200 characters.'
  const d = v.description.trim()
  if (!d) errors.description = 'Describe the problem.'
  else if (d.length > 10000) errors.description = 'Keep the description under 10,000 characters.'
  return errors
}

export function validateComment(body: string): string | null {
  const b = body.trim()
  if (!b) return 'Write something first.'
  if (b.length > 10000) return 'Keep the comment under 10,000 characters.'
  return null
}

/** Parses a comma-separated skills field the way the API normalises it. */
export function parseSkills(text: string): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const raw of text.split(',')) {
    const s = raw.trim()
    if (!s || seen.has(s.toLowerCase())) continue
    seen.add(s.toLowerCase())
    out.push(s)
  }
  return out
}

export function validateSkills(skills: string[]): string | null {
  if (skills.length > 50) return 'At most 50 skills.'
  const long = skills.find((s) => s.length > 64)
  if (long) return `"${long.slice(0, 20)}…" is longer than 64 characters.`
  return null
}

export function validateCategories(categories: Category[]): { form: string | null; rows: Record<number, string> } {
  const rows: Record<number, string> = {}
  const seen = new Map<string, number>()
  categories.forEach((c, i) => {
    const name = c.name.trim()
    if (!name) rows[i] = 'Give the category a name.'
    else if (name.length > 64) rows[i] = 'Keep the name under 64 characters.'
    else if (seen.has(name.toLowerCase())) rows[i] = `Same name as row ${(seen.get(name.toLowerCase()) ?? 0) + 1}.`
    else if (c.description.length > 500) rows[i] = 'Keep the description under 500 characters.'
    if (name) seen.set(name.toLowerCase(), seen.get(name.toLowerCase()) ?? i)
  })
  let form: string | null = null
  if (categories.length < 2) form = 'Keep at least 2 categories.'
  else if (categories.length > 100) form = 'At most 100 categories.'
  return { form, rows }
}

export function hasErrors(e: Errors): boolean {
  return Object.keys(e).length > 0
}
