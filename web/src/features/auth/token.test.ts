import { describe, expect, it } from 'vitest'
import { decodeClaims, isExpired, msUntilExpiry } from './token'

function b64url(obj: unknown): string {
  return Buffer.from(JSON.stringify(obj)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}
function makeToken(payload: Record<string, unknown>): string {
  return `${b64url({ alg: 'EdDSA', typ: 'JWT' })}.${b64url(payload)}.c2ln`
}

describe('decodeClaims', () => {
  it('reads sub, role, exp, email and a non-ASCII name', () => {
    const t = makeToken({ sub: 'u1', role: 'moderator', exp: 2000000000, iat: 1999999100, email: 'a@b.c', name: 'Zoë Ångström' })
    expect(decodeClaims(t)).toEqual({ sub: 'u1', role: 'moderator', exp: 2000000000, iat: 1999999100, email: 'a@b.c', name: 'Zoë Ångström' })
  })

  it('rejects malformed tokens and missing claims', () => {
    expect(decodeClaims('abc')).toBeNull()
    expect(decodeClaims('a.b.c')).toBeNull()
    expect(decodeClaims(makeToken({ sub: 'u1', role: 'user' }))).toBeNull()
    expect(decodeClaims(makeToken({ sub: 'u1', role: 'root', exp: 1 }))).toBeNull()
  })
})

describe('expiry', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0)
  const exp = now / 1000 + 60
  it('is live before exp minus the skew, expired after', () => {
    expect(isExpired({ exp }, now)).toBe(false)
    expect(isExpired({ exp }, now + 54_000)).toBe(false)
    expect(isExpired({ exp }, now + 55_000)).toBe(true)
    expect(isExpired({ exp }, now + 120_000)).toBe(true)
    expect(isExpired(null, now)).toBe(true)
  })
  it('counts down to the end of the session and never goes negative', () => {
    expect(msUntilExpiry({ exp }, now)).toBe(55_000)
    expect(msUntilExpiry({ exp }, now + 100_000)).toBe(0)
    expect(msUntilExpiry(null, now)).toBe(0)
  })
})
