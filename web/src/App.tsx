import { Navigate, Route, Routes, useLocation } from 'react-router-dom'
import type { ReactNode } from 'react'
import type { Role } from './api/types'
import { Empty } from './common/ui'
import { SetPasswordPage, SignInPage, SignUpPage, VerifyEmailPage } from './features/auth/AuthPages'
import { EXPIRED_MESSAGE, homeFor, useAuth } from './features/auth/session'
import { DashboardPage } from './features/dashboard/DashboardPage'
import { IncidentPage } from './features/incidents/IncidentPage'
import { IncidentsPage } from './features/incidents/IncidentsPage'
import { PreferencesPage } from './features/notifications/PreferencesPage'
import { NewTicketPage } from './features/tickets/NewTicketPage'
import { TicketPage } from './features/tickets/ticket/TicketPage'
import { AdminTicketsPage, MyTicketsPage, QueuePage } from './features/tickets/TicketListPages'
import { TriageAdminPage } from './features/triage/TriageAdminPage'
import { UsersPage } from './features/users/UsersPage'
import { Layout } from './Layout'

function RequireAuth({ children, roles }: { children: ReactNode; roles?: Role[] }) {
  const { session, role, notice } = useAuth()
  const location = useLocation()
  if (!session) {
    // After an expiry (or a deep link) come back here; after a deliberate sign-out start fresh.
    const state = notice && notice !== EXPIRED_MESSAGE ? null : { from: location.pathname + location.search }
    return <Navigate to="/signin" replace state={state} />
  }
  if (roles && (!role || !roles.includes(role))) {
    return (
      <Empty icon="lock" title="This page is not for your role">
        <p>Ask an administrator if you need access.</p>
      </Empty>
    )
  }
  return <>{children}</>
}

function Home() {
  const { role } = useAuth()
  return <Navigate to={homeFor(role)} replace />
}

function NotFound() {
  return (
    <Empty icon="compass" title="Page not found">
      <p>The address may be mistyped, or the page moved.</p>
    </Empty>
  )
}

export default function App() {
  return (
    <Routes>
      <Route path="/signin" element={<SignInPage />} />
      <Route path="/signup" element={<SignUpPage />} />
      <Route path="/set-password" element={<SetPasswordPage />} />
      <Route path="/verify" element={<VerifyEmailPage />} />
      <Route element={<RequireAuth><Layout /></RequireAuth>}>
        <Route index element={<Home />} />
        <Route path="tickets" element={<MyTicketsPage />} />
        <Route path="tickets/new" element={<NewTicketPage />} />
        <Route path="tickets/:id" element={<TicketPage />} />
        <Route path="queue" element={<RequireAuth roles={['moderator', 'admin']}><QueuePage /></RequireAuth>} />
        <Route path="admin/tickets" element={<RequireAuth roles={['admin']}><AdminTicketsPage /></RequireAuth>} />
        <Route path="admin/users" element={<RequireAuth roles={['admin']}><UsersPage /></RequireAuth>} />
        <Route path="admin/triage" element={<RequireAuth roles={['admin']}><TriageAdminPage /></RequireAuth>} />
        <Route path="admin/dashboard" element={<RequireAuth roles={['admin']}><DashboardPage /></RequireAuth>} />
        <Route path="incidents" element={<RequireAuth roles={['moderator', 'admin']}><IncidentsPage /></RequireAuth>} />
        <Route path="incidents/:id" element={<RequireAuth roles={['moderator', 'admin']}><IncidentPage /></RequireAuth>} />
        <Route path="settings/notifications" element={<PreferencesPage />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  )
}
