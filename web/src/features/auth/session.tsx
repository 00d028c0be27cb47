import { useQuery } from '@tanstack/react-query'
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react'
import { getToken, onUnauthorized, setToken } from '../../api/client'
import { queryClient } from '../../api/query'
import type { AuthResponse, Role, User } from '../../api/types'
import { authApi, authKeys } from './api'
import { decodeClaims, isExpired, msUntilExpiry, type Claims } from './token'

export const EXPIRED_MESSAGE = 'Your session has expired. Please sign in again.'
export const SIGNED_OUT_MESSAGE = 'You have signed out.'

interface Session {
  token: string
  claims: Claims
  user: User | null
}

interface AuthValue {
  session: Session | null
  role: Role | null
  userId: string | null
  displayName: string
  notice: string | null
  clearNotice: () => void
  signIn: (res: AuthResponse) => void
  signOut: (notice?: string) => void
  /** A newer copy of the signed-in user's account (after verifying the email, say). */
  updateUser: (user: User) => void
}

const AuthContext = createContext<AuthValue | null>(null)

function loadSession(): { session: Session | null; expired: boolean } {
  const token = getToken()
  if (!token) return { session: null, expired: false }
  const claims = decodeClaims(token)
  if (!claims || isExpired(claims)) {
    setToken(null)
    return { session: null, expired: Boolean(claims) }
  }
  return { session: { token, claims, user: null }, expired: false }
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [initial] = useState(loadSession)
  const [session, setSession] = useState<Session | null>(initial.session)
  const [notice, setNotice] = useState<string | null>(initial.expired ? EXPIRED_MESSAGE : null)

  const signOut = useCallback((msg?: string) => {
    // nothing read for one account may show for the next
    queryClient.removeQueries()
    setToken(null)
    setSession(null)
    setNotice(msg ?? null)
  }, [])

  const signIn = useCallback((res: AuthResponse) => {
    const claims = decodeClaims(res.token)
    if (!claims) throw new Error('The server sent a token this app cannot read.')
    queryClient.removeQueries()
    setToken(res.token)
    setNotice(null)
    setSession({ token: res.token, claims, user: res.user })
  }, [])

  const updateUser = useCallback((user: User) => {
    setSession((s) => (s && s.claims.sub === user.id ? { ...s, user } : s))
  }, [])

  // A 401 on any authenticated call ends the session (expired, revoked or role lowered).
  useEffect(() => {
    onUnauthorized(() => signOut(EXPIRED_MESSAGE))
    return () => onUnauthorized(null)
  }, [signOut])

  // End the session when the token's exp is reached, even if the user does nothing.
  useEffect(() => {
    if (!session) return
    const ms = msUntilExpiry(session.claims)
    // setTimeout misbehaves above 2^31 ms; such tokens are re-checked daily.
    const timer = window.setTimeout(() => {
      if (isExpired(session.claims)) signOut(EXPIRED_MESSAGE)
    }, Math.min(ms, 86_400_000))
    return () => window.clearTimeout(timer)
  }, [session, signOut])

  // Refresh the profile (name, skills) once per token. A 401 is handled by onUnauthorized; other
  // errors leave the token's claims in use.
  const token = session?.token
  const me = useQuery({ queryKey: authKeys.me(token), queryFn: authApi.me, enabled: Boolean(token) }).data
  useEffect(() => {
    if (me) setSession((s) => (s && s.token === token ? { ...s, user: me } : s))
  }, [me, token])

  // Sign-in and sign-out in another tab apply here too.
  useEffect(() => {
    const onStorage = (e: StorageEvent) => {
      if (e.key !== 'helpdesk.token') return
      const next = loadSession()
      queryClient.removeQueries()
      setSession(next.session)
    }
    window.addEventListener('storage', onStorage)
    return () => window.removeEventListener('storage', onStorage)
  }, [])

  const value = useMemo<AuthValue>(() => {
    const c = session?.claims
    return {
      session,
      role: c?.role ?? null,
      userId: c?.sub ?? null,
      displayName: session?.user?.name || c?.name || session?.user?.email || c?.email || '',
      notice,
      clearNotice: () => setNotice(null),
      signIn,
      signOut,
      updateUser,
    }
  }, [session, notice, signIn, signOut, updateUser])

  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>
}

export function useAuth(): AuthValue {
  const v = useContext(AuthContext)
  if (!v) throw new Error('useAuth outside AuthProvider')
  return v
}

export function isStaff(role: Role | null): boolean {
  return role === 'moderator' || role === 'admin'
}

export function homeFor(role: Role | null): string {
  if (role === 'admin') return '/admin/dashboard'
  if (role === 'moderator') return '/queue'
  return '/tickets'
}
