import { useEffect, useState } from 'react'
import { NavLink, Outlet, useLocation, useNavigate } from 'react-router-dom'
import { SIGNED_OUT_MESSAGE, useAuth } from '../auth'
import { api } from '../api/client'
import { msUntilExpiry } from '../lib/token'
import { ErrorAlert } from './ui'

export function Brand() {
  return (
    <span className="brand">
      <span className="brand-mark" aria-hidden="true">✚</span> Helpdesk
    </span>
  )
}

/** Shown while the signed-in account's address is unverified: the signup's "check your mail". */
export function VerifyNotice({ email }: { email: string }) {
  const [state, setState] = useState<'idle' | 'sending' | 'sent'>('idle')
  const [error, setError] = useState<unknown>(null)

  async function resend() {
    setState('sending')
    setError(null)
    try {
      await api.resendVerification()
      setState('sent')
    } catch (err) {
      setError(err)
      setState('idle')
    }
  }

  return (
    <div className="alert alert-info" role="status" data-testid="verify-notice">
      <strong>Check your mail.</strong> We sent a link to <strong>{email}</strong> to confirm that the address is
      yours. Until you follow it we send you no other mail (no updates on your tickets), and your account
      cannot be given a staff role.{' '}
      {state === 'sent' ? (
        <span>A new link is on its way.</span>
      ) : (
        <button type="button" className="link-button" onClick={resend} disabled={state === 'sending'}>
          {state === 'sending' ? 'Sending…' : 'Send the link again'}
        </button>
      )}
      <ErrorAlert error={error} />
    </div>
  )
}

export function Layout() {
  const { role, displayName, session, signOut } = useAuth()
  const [open, setOpen] = useState(false)
  const location = useLocation()
  const navigate = useNavigate()
  useEffect(() => {
    setOpen(false)
    // After client-side navigation, start keyboard and screen-reader users at the new content
    // (unless the page already focused a field of its own).
    if (document.activeElement === document.body || document.activeElement?.closest('.app-header')) {
      document.getElementById('main')?.focus({ preventScroll: true })
    }
  }, [location.pathname])
  const [endingSoon, setEndingSoon] = useState(false)
  const claims = session?.claims
  // Tokens are short-lived and cannot be refreshed: warn a minute before the end.
  useEffect(() => {
    setEndingSoon(false)
    if (!claims) return
    const ms = msUntilExpiry(claims) - 60_000
    if (ms > 86_400_000) return
    const t = window.setTimeout(() => setEndingSoon(true), Math.max(0, ms))
    return () => window.clearTimeout(t)
  }, [claims])

  const links: { to: string; label: string }[] = []
  if (role === 'admin') links.push({ to: '/admin/dashboard', label: 'Dashboard' }, { to: '/admin/tickets', label: 'All tickets' })
  if (role === 'moderator' || role === 'admin') links.push({ to: '/queue', label: 'My queue' })
  links.push({ to: '/tickets', label: 'My tickets' })
  links.push({ to: '/tickets/new', label: 'New ticket' })
  if (role === 'admin') links.push({ to: '/admin/users', label: 'Users' }, { to: '/admin/triage', label: 'Triage' })

  return (
    <>
      <a className="skip-link" href="#main">Skip to content</a>
      <header className={`app-header ${open ? 'open' : ''}`}>
        <div className="inner">
          <NavLink to="/" className="brand" aria-label="Helpdesk home">
            <span className="brand-mark" aria-hidden="true">✚</span> Helpdesk
          </NavLink>
          <button
            type="button"
            className="btn btn-ghost btn-small menu-toggle"
            aria-expanded={open}
            aria-controls="main-nav"
            onClick={() => setOpen((o) => !o)}
          >
            {open ? 'Close' : 'Menu'}
          </button>
          <nav id="main-nav" className="main-nav" aria-label="Main">
            {links.map((l) => (
              <NavLink key={l.to} to={l.to} end={l.to === '/tickets'}>{l.label}</NavLink>
            ))}
          </nav>
          <div className="user-box">
            <span className="who">
              <span data-testid="current-user">{displayName}</span>
              <small>{role}{session?.user?.email && displayName !== session.user.email ? ` · ${session.user.email}` : ''}</small>
            </span>
            <NavLink to="/settings/notifications" className="small">Notifications</NavLink>
            <button type="button" className="btn btn-ghost btn-small" onClick={() => { signOut(SIGNED_OUT_MESSAGE); navigate('/signin', { replace: true }) }}>
              Sign out
            </button>
          </div>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {session?.user && session.user.role !== role && (
          <div className="alert alert-info" role="status">
            Your role is now <strong>{session.user.role}</strong>.{' '}
            <button type="button" className="link-button" onClick={() => { signOut('Sign in again to use your new role.'); navigate('/signin', { replace: true }) }}>
              Sign in again
            </button>{' '}
            to use it.
          </div>
        )}
        {session?.user && session.user.email_verified === false && <VerifyNotice email={session.user.email} />}
        {endingSoon && (
          <div className="alert alert-warn" role="status">
            Your session ends in less than a minute. Copy anything you are writing; you will be asked to sign in again.
          </div>
        )}
        <Outlet />
      </main>
    </>
  )
}
