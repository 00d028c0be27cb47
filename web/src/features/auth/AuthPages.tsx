import { useMutation } from '@tanstack/react-query'
import { useEffect, useRef, useState, type FormEvent } from 'react'
import { Link, Navigate, useLocation, useNavigate } from 'react-router-dom'
import { ApiError } from '../../api/errors'
import type { Role } from '../../api/types'
import { useDocumentTitle } from '../../common/hooks'
import { Alert, Brand, ErrorAlert, Field, Spinner } from '../../common/ui'
import { hasErrors, validateSignIn, validateSignUp, type Errors } from '../../common/validation'
import { authApi } from './api'
import { homeFor, useAuth } from './session'
import { decodeClaims } from './token'

/** A problem's field messages shown at their fields. */
function fieldErrorsOf(setErrors: (e: Errors) => void) {
  return (err: unknown) => { if (err instanceof ApiError) setErrors(err.fieldErrors()) }
}

function useAfterSignIn() {
  const navigate = useNavigate()
  const location = useLocation()
  const from = (location.state as { from?: string } | null)?.from
  const target = (role: Role | null) =>
    from && from !== '/signin' && from !== '/signup' ? from : homeFor(role)
  return {
    target,
    go: (token: string) => navigate(target(decodeClaims(token)?.role ?? null), { replace: true }),
  }
}

export function SignInPage() {
  useDocumentTitle('Sign in')
  const { session, role, signIn, notice, clearNotice } = useAuth()
  const after = useAfterSignIn()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [errors, setErrors] = useState<Errors>({})
  const login = useMutation({
    mutationFn: authApi.login,
    onSuccess: (res) => { clearNotice(); signIn(res); after.go(res.token) },
    onError: fieldErrorsOf(setErrors),
  })
  if (session) return <Navigate to={after.target(role)} replace />

  function submit(e: FormEvent) {
    e.preventDefault()
    const errs = validateSignIn({ email, password })
    setErrors(errs)
    login.reset()
    if (hasErrors(errs)) return
    login.mutate({ email: email.trim(), password })
  }

  return (
    <div className="auth-wrap">
      <div className="card auth-card">
        <div className="auth-brand"><Brand /></div>
        <h1>Sign in</h1>
        <p className="lead">Track your requests and talk to support.</p>
        {notice && <Alert kind="info">{notice}</Alert>}
        <ErrorAlert error={login.error} />
        <form onSubmit={submit} noValidate aria-label="Sign in">
          <Field label="Email" error={errors.email}>
            {(p) => <input {...p} type="email" name="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} autoFocus />}
          </Field>
          <Field label="Password" error={errors.password}>
            {(p) => <input {...p} type="password" name="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />}
          </Field>
          <button type="submit" className="btn" style={{ width: '100%' }} disabled={login.isPending}>
            {login.isPending ? <><Spinner /> Signing in…</> : 'Sign in'}
          </button>
        </form>
        <p className="muted" style={{ textAlign: 'center', marginTop: '1rem' }}>
          New here? <Link to="/signup">Create an account</Link>
        </p>
      </div>
    </div>
  )
}

export function SignUpPage() {
  useDocumentTitle('Create an account')
  const { session, role, signIn } = useAuth()
  const after = useAfterSignIn()
  const [name, setName] = useState('')
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [confirm, setConfirm] = useState('')
  const [errors, setErrors] = useState<Errors>({})
  const signup = useMutation({
    mutationFn: authApi.signup,
    onSuccess: (res) => { signIn(res); after.go(res.token) },
    onError: fieldErrorsOf(setErrors),
  })
  if (session) return <Navigate to={after.target(role)} replace />

  function submit(e: FormEvent) {
    e.preventDefault()
    const errs = validateSignUp({ email, password, confirm, name })
    setErrors(errs)
    signup.reset()
    if (hasErrors(errs)) return
    const body: { email: string; password: string; name?: string } = { email: email.trim(), password }
    if (name.trim()) body.name = name.trim()
    signup.mutate(body)
  }

  return (
    <div className="auth-wrap">
      <div className="card auth-card">
        <div className="auth-brand"><Brand /></div>
        <h1>Create an account</h1>
        <p className="lead">File tickets and follow them to resolution.</p>
        <ErrorAlert error={signup.error} />
        <form onSubmit={submit} noValidate aria-label="Create an account">
          <Field label="Name" error={errors.name} hint="Optional: shown to the support team.">
            {(p) => <input {...p} type="text" name="name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} autoFocus />}
          </Field>
          <Field label="Email" error={errors.email}>
            {(p) => <input {...p} type="email" name="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />}
          </Field>
          <Field label="Password" error={errors.password} hint="12 to 128 characters; a phrase of your own, not your email.">
            {(p) => <input {...p} type="password" name="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />}
          </Field>
          <Field label="Confirm password" error={errors.confirm}>
            {(p) => <input {...p} type="password" name="confirm" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} />}
          </Field>
          <button type="submit" className="btn" style={{ width: '100%' }} disabled={signup.isPending}>
            {signup.isPending ? <><Spinner /> Creating…</> : 'Create account'}
          </button>
        </form>
        <p className="muted" style={{ textAlign: 'center', marginTop: '1rem' }}>
          Already have an account? <Link to="/signin">Sign in</Link>
        </p>
      </div>
    </div>
  )
}

/** /set-password?token=…: the link in the welcome mail of an account opened by mail. */
export function SetPasswordPage() {
  useDocumentTitle('Set a password')
  const { signIn } = useAuth()
  const navigate = useNavigate()
  const location = useLocation()
  const token = new URLSearchParams(location.search).get('token') ?? ''
  const [password, setPassword] = useState('')
  const [confirm, setConfirm] = useState('')
  const [errors, setErrors] = useState<Errors>({})
  const setFirst = useMutation({
    mutationFn: authApi.setPassword,
    onSuccess: (res) => { signIn(res); navigate(homeFor(res.user.role), { replace: true }) },
    onError: fieldErrorsOf(setErrors),
  })

  function submit(e: FormEvent) {
    e.preventDefault()
    const errs: Errors = {}
    if (password.length < 8 || password.length > 128) errs.password = 'Use 8 to 128 characters.'
    else if (confirm !== password) errs.confirm = 'The passwords differ.'
    setErrors(errs)
    setFirst.reset()
    if (hasErrors(errs)) return
    setFirst.mutate({ token, password })
  }

  return (
    <div className="auth-wrap">
      <div className="card auth-card">
        <div className="auth-brand"><Brand /></div>
        <h1>Set a password</h1>
        <p className="lead">Your account was opened when you mailed us. Choose a password to sign in on the web.</p>
        {!token && <Alert kind="info">This page needs the link from your welcome mail.</Alert>}
        <ErrorAlert error={setFirst.error} />
        <form onSubmit={submit} noValidate aria-label="Set a password">
          <Field label="Password" error={errors.password}>
            {(p) => <input {...p} type="password" name="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} autoFocus />}
          </Field>
          <Field label="Confirm password" error={errors.confirm}>
            {(p) => <input {...p} type="password" name="confirm" autoComplete="new-password" value={confirm} onChange={(e) => setConfirm(e.target.value)} />}
          </Field>
          <button type="submit" className="btn" style={{ width: '100%' }} disabled={setFirst.isPending || !token}>
            {setFirst.isPending ? <><Spinner /> Saving…</> : 'Set password and sign in'}
          </button>
        </form>
      </div>
    </div>
  )
}


/** /verify?token=…: the link of the verification mail. Works signed in or not. */
export function VerifyEmailPage() {
  useDocumentTitle('Confirm your email address')
  const { session, role, updateUser } = useAuth()
  const location = useLocation()
  const token = new URLSearchParams(location.search).get('token') ?? ''
  const verify = useMutation({ mutationFn: authApi.verifyEmail, onSuccess: updateUser })
  const sent = useRef(false)
  const state = !token || verify.isError ? 'failed' : verify.isSuccess ? 'done' : 'working'

  useEffect(() => {
    // once per page, even when React runs effects twice (the route is idempotent anyway)
    if (!token || sent.current) return
    sent.current = true
    verify.mutate({ token })
  }, [token, verify])

  return (
    <div className="auth-wrap">
      <div className="card auth-card">
        <div className="auth-brand"><Brand /></div>
        <h1>Confirm your email address</h1>
        {state === 'working' && <p className="lead"><Spinner /> Confirming…</p>}
        {state === 'done' && (
          <Alert kind="success">Your email address is confirmed. We will mail you about your tickets from now on.</Alert>
        )}
        {state === 'failed' && !token && <Alert kind="info">This page needs the link from your verification mail.</Alert>}
        {state === 'failed' && token && (
          <>
            <ErrorAlert error={verify.error} />
            <p className="muted">Sign in and ask for a new link from the notice at the top of the page.</p>
          </>
        )}
        <p style={{ textAlign: 'center', marginTop: '1rem' }}>
          {session ? <Link to={homeFor(role)}>Continue to Helpdesk</Link> : <Link to="/signin">Sign in</Link>}
        </p>
      </div>
    </div>
  )
}
