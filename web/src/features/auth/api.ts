import { request } from '../../api/client'
import type { AuthResponse, Schemas, User } from '../../api/types'

export const authApi = {
  signup: (body: Schemas['SignupIn']) => request<AuthResponse>('POST', '/api/auth/signup', body, { auth: false }),
  login: (body: Schemas['LoginIn']) => request<AuthResponse>('POST', '/api/auth/login', body, { auth: false }),
  /** The first password of an account opened by mail (the welcome mail's one-use link). */
  setPassword: (body: Schemas['SetPasswordIn']) =>
    request<AuthResponse>('POST', '/api/auth/set-password', body, { auth: false }),
  /** The link of the verification mail: marks the address verified (no sign-in needed). */
  verifyEmail: (body: Schemas['VerifyEmailIn']) => request<User>('POST', '/api/auth/verify', body, { auth: false }),
  /** Mail the caller's verification link again (a few times an hour; 409 once verified). */
  resendVerification: () => request<Schemas['VerificationSent']>('POST', '/api/auth/resend-verification'),
  me: () => request<User>('GET', '/api/auth/me'),
}

/** The cache keys of auth data (the profile is read once per token). */
export const authKeys = {
  me: (token: string | undefined) => ['auth', 'me', token] as const,
}
