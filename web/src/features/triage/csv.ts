import type { Example, Priority } from '../../api/types'

/** RFC 4180 CSV: quoted fields, doubled quotes, CR/LF/CRLF, newlines inside quotes, a leading BOM. */
export function parseCsv(text: string, delimiter = ','): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let inQuotes = false
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0
  let fieldStarted = false
  const endField = () => {
    row.push(field)
    field = ''
    fieldStarted = false
  }
  const endRow = () => {
    endField()
    if (!(row.length === 1 && row[0] === '')) rows.push(row)
    row = []
  }
  for (; i < text.length; i++) {
    const c = text[i]
    if (inQuotes) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"'
          i++
        } else {
          inQuotes = false
        }
      } else {
        field += c
      }
      continue
    }
    if (c === '"' && !fieldStarted) {
      inQuotes = true
      fieldStarted = true
    } else if (c === delimiter) {
      endField()
    } else if (c === '\n') {
      endRow()
    } else if (c === '\r') {
      if (text[i + 1] === '\n') i++
      endRow()
    } else {
      field += c
      fieldStarted = true
    }
  }
  if (inQuotes) throw new Error('The file ends inside a quoted field (an unmatched ").')
  if (field !== '' || row.length > 0) endRow()
  return rows
}

export interface RowError {
  line: number
  message: string
}

export interface ExamplesParseResult {
  examples: Example[]
  errors: RowError[]
  rows: number
}

const REQUIRED = ['title', 'description', 'category', 'priority'] as const
const PRIORITY_SET = new Set<Priority>(['low', 'medium', 'high'])

/** Splits a `|`-separated skills cell: trimmed, empty parts dropped, duplicates folded case-insensitively. */
export function splitSkills(cell: string): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const raw of cell.split('|')) {
    const s = raw.trim()
    if (!s) continue
    const key = s.toLowerCase()
    if (seen.has(key)) continue
    seen.add(key)
    out.push(s)
  }
  return out
}

/** Turns a CSV with columns title,description,category,priority,skills into examples, row by row. */
export function parseExamplesCsv(text: string, allowedCategories?: string[]): ExamplesParseResult {
  let table: string[][]
  try {
    table = parseCsv(text)
  } catch (e) {
    return { examples: [], errors: [{ line: 0, message: (e as Error).message }], rows: 0 }
  }
  if (table.length === 0) return { examples: [], errors: [{ line: 0, message: 'The file is empty.' }], rows: 0 }
  const header = table[0].map((h) => h.trim().toLowerCase())
  const missing = REQUIRED.filter((c) => !header.includes(c))
  if (missing.length) {
    return {
      examples: [],
      errors: [{ line: 1, message: `Missing column${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}` }],
      rows: table.length - 1,
    }
  }
  const idx = (name: string) => header.indexOf(name)
  const col = { title: idx('title'), description: idx('description'), category: idx('category'), priority: idx('priority'), skills: idx('skills') }
  const allowed = allowedCategories ? new Map(allowedCategories.map((c) => [c.toLowerCase(), c])) : null
  const examples: Example[] = []
  const errors: RowError[] = []
  for (let r = 1; r < table.length; r++) {
    const line = r + 1
    const cells = table[r]
    const get = (i: number) => (i >= 0 && i < cells.length ? cells[i].trim() : '')
    const title = get(col.title)
    const description = get(col.description)
    let category = get(col.category)
    const priority = get(col.priority).toLowerCase()
    const skills = col.skills >= 0 ? splitSkills(get(col.skills)) : []
    const problems: string[] = []
    if (!title) problems.push('title is empty')
    else if (title.length > 200) problems.push('title is longer than 200 characters')
    if (!description) problems.push('description is empty')
    else if (description.length > 10000) problems.push('description is longer than 10000 characters')
    if (!category) problems.push('category is empty')
    else if (category.length > 64) problems.push('category is longer than 64 characters')
    else if (allowed) {
      const known = allowed.get(category.toLowerCase())
      if (!known) problems.push(`unknown category "${category}"`)
      else category = known
    }
    if (!PRIORITY_SET.has(priority as Priority)) problems.push(`priority must be low, medium or high (got "${get(col.priority)}")`)
    if (skills.some((s) => s.length > 64)) problems.push('a skill is longer than 64 characters')
    if (skills.length > 50) problems.push('more than 50 skills')
    if (problems.length) {
      errors.push({ line, message: problems.join('; ') })
      continue
    }
    examples.push({ title, description, category, priority: priority as Priority, skills })
  }
  return { examples, errors, rows: table.length - 1 }
}

/** Splits a list into chunks of at most `size` items. */
export function chunk<T>(items: T[], size = 1000): T[][] {
  if (size < 1) throw new Error('chunk size must be positive')
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
