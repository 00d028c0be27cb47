import { useEffect, useState } from 'react'
import { NavLink, Outlet, useLocation, useNavigate } from 'react-router-dom'
import { SIGNED_OUT_MESSAGE, useAuth } from './features/auth/session'
import { msUntilExpiry } from './features/auth/token'
import { VerifyNotice } from './features/auth/VerifyNotice'

/** The signed-in shell: header, navigation (one link per feature page), session notices. */
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
  if (role === 'moderator' || role === 'admin') links.push({ to: '/queue', label: 'My queue' }, { to: '/incidents', label: 'Incidents' })
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
