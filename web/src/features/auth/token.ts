/** JWT claims decoding and expiry logic (the signature is the server's business). */
export interface Claims {
  sub: string
  role: 'user' | 'moderator' | 'admin'
  exp: number
  iat?: number
  email?: string
  name?: string | null
}

function base64UrlDecode(s: string): string {
  let b64 = s.replace(/-/g, '+').replace(/_/g, '/')
  while (b64.length % 4) b64 += '='
  const bin = atob(b64)
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0))
  return new TextDecoder().decode(bytes)
}

export function decodeClaims(token: string): Claims | null {
  const parts = token.split('.')
  if (parts.length !== 3) return null
  try {
    const payload = JSON.parse(base64UrlDecode(parts[1])) as Record<string, unknown>
    if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') return null
    const role = payload.role
    if (role !== 'user' && role !== 'moderator' && role !== 'admin') return null
    return {
      sub: payload.sub,
      role,
      exp: payload.exp,
      iat: typeof payload.iat === 'number' ? payload.iat : undefined,
      email: typeof payload.email === 'string' ? payload.email : undefined,
      name: typeof payload.name === 'string' ? payload.name : null,
    }
  } catch {
    return null
  }
}

/** Seconds of slack so a request is not sent with a token about to die on the way. */
export const EXPIRY_SKEW_S = 5

export function isExpired(claims: Pick<Claims, 'exp'> | null, nowMs: number = Date.now()): boolean {
  if (!claims) return true
  return claims.exp * 1000 - EXPIRY_SKEW_S * 1000 <= nowMs
}

/** Milliseconds until the session must end (0 when already over). */
export function msUntilExpiry(claims: Pick<Claims, 'exp'> | null, nowMs: number = Date.now()): number {
  if (!claims) return 0
  return Math.max(0, claims.exp * 1000 - EXPIRY_SKEW_S * 1000 - nowMs)
}
