/** RFC 9457 problem details, parsed defensively (the gateway may also pass FastAPI's own shapes). */
export interface FieldError {
  loc: (string | number)[]
  msg: string
}

export class ApiError extends Error {
  status: number
  title: string
  detail: string | null
  errors: FieldError[]
  retryAfter: number | null

  constructor(opts: {
    status: number
    title: string
    detail?: string | null
    errors?: FieldError[]
    retryAfter?: number | null
  }) {
    super(opts.detail || opts.title)
    this.name = 'ApiError'
    this.status = opts.status
    this.title = opts.title
    this.detail = opts.detail ?? null
    this.errors = opts.errors ?? []
    this.retryAfter = opts.retryAfter ?? null
  }

  /** Field name (last string in `loc`) → first message for it. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const e of this.errors) {
      const names = e.loc.filter((p): p is string => typeof p === 'string' && p !== 'body' && p !== 'query')
      const key = names.length ? names[names.length - 1] : '_'
      if (!(key in out)) out[key] = e.msg
    }
    return out
  }

  /** One human sentence for a banner. */
  summary(): string {
    const parts: string[] = []
    parts.push(this.detail && this.detail !== this.title ? `${this.title}: ${this.detail}` : this.title)
    if (this.status === 429 && this.retryAfter != null) {
      parts.push(`Try again in ${this.retryAfter} s.`)
    }
    return parts.join(' ')
  }
}

const FALLBACK_TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Not signed in',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  413: 'Too large',
  422: 'Invalid input',
  429: 'Too many requests',
  500: 'Server error',
  502: 'Service unavailable',
  503: 'Service unavailable',
  504: 'Service timed out',
}

function toFieldErrors(raw: unknown): FieldError[] {
  if (!Array.isArray(raw)) return []
  const out: FieldError[] = []
  for (const item of raw) {
    if (item && typeof item === 'object') {
      const o = item as Record<string, unknown>
      const loc = Array.isArray(o.loc) ? (o.loc as (string | number)[]) : []
      const msg = typeof o.msg === 'string' ? o.msg : typeof o.message === 'string' ? o.message : null
      if (msg) out.push({ loc, msg })
    } else if (typeof item === 'string') {
      out.push({ loc: [], msg: item })
    }
  }
  return out
}

export function parseRetryAfter(value: string | null | undefined): number | null {
  if (!value) return null
  const n = Number(value.trim())
  if (Number.isFinite(n) && n >= 0) return Math.ceil(n)
  const date = Date.parse(value)
  if (!Number.isNaN(date)) return Math.max(0, Math.ceil((date - Date.now()) / 1000))
  return null
}

/** Builds an ApiError from a status, the body text and the Retry-After header. */
export function parseProblem(status: number, bodyText: string, retryAfter?: string | null): ApiError {
  let body: unknown = null
  try {
    body = bodyText ? JSON.parse(bodyText) : null
  } catch {
    body = null
  }
  const fallback = FALLBACK_TITLES[status] ?? (status >= 500 ? 'Server error' : `Request failed (${status})`)
  let title = fallback
  let detail: string | null = null
  let errors: FieldError[] = []
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const o = body as Record<string, unknown>
    if (typeof o.title === 'string' && o.title.trim()) title = o.title
    if (typeof o.detail === 'string') detail = o.detail
    else if (Array.isArray(o.detail)) errors = toFieldErrors(o.detail) // FastAPI's default 422 shape
    if (Array.isArray(o.errors)) errors = toFieldErrors(o.errors)
  } else if (status >= 500 || !bodyText) {
    detail = null
  }
  if (!detail && errors.length === 1) detail = errors[0].msg
  return new ApiError({ status, title, detail, errors, retryAfter: parseRetryAfter(retryAfter) })
}

export function networkError(): ApiError {
  return new ApiError({
    status: 0,
    title: 'Cannot reach the server',
    detail: 'Check your connection and try again.',
  })
}

/** A message for anything thrown by a request. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.summary()
  if (err instanceof Error) return err.message
  return 'Something went wrong.'
}
