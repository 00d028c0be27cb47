import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect, useState, type FormEvent } from 'react'
import type { Preferences } from '../../api/types'
import { useDocumentTitle } from '../../common/hooks'
import { Alert, ErrorAlert, Loading, Spinner } from '../../common/ui'
import { useAuth } from '../auth/session'
import { notificationsApi, notificationsKeys } from './api'

const KINDS: { key: keyof Preferences; label: string; hint: string; roles: string[] }[] = [
  { key: 'welcome', label: 'Welcome email', hint: 'When your account is created.', roles: ['user', 'moderator', 'admin'] },
  { key: 'ticket_resolved', label: 'Ticket resolved', hint: 'When one of your tickets is resolved.', roles: ['user', 'moderator', 'admin'] },
  { key: 'ticket_assigned', label: 'Ticket assigned to me', hint: 'When triage or an admin gives you a ticket.', roles: ['moderator', 'admin'] },
  { key: 'triage_failed', label: 'Triage failed', hint: 'When a ticket could not be triaged automatically.', roles: ['admin'] },
]

export function PreferencesPage() {
  useDocumentTitle('Notifications')
  const { role } = useAuth()
  const queryClient = useQueryClient()
  const stored = useQuery({ queryKey: notificationsKeys.preferences, queryFn: notificationsApi.preferences })
  // the form edits a copy of what the server holds
  const [prefs, setPrefs] = useState<Preferences | null>(null)
  useEffect(() => { if (stored.data) setPrefs(stored.data) }, [stored.data])
  const loadError = stored.error
  const load = () => void stored.refetch()
  const [saved, setSaved] = useState(false)
  const put = useMutation({
    mutationFn: notificationsApi.putPreferences,
    onSuccess: (p) => { queryClient.setQueryData(notificationsKeys.preferences, p); setPrefs(p); setSaved(true) },
  })

  function save(e: FormEvent) {
    e.preventDefault()
    if (!prefs) return
    setSaved(false)
    put.mutate(prefs)
  }

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Email notifications</h1>
          <p>Choose which emails you get.</p>
        </div>
      </div>
      <div className="card" style={{ maxWidth: 640 }}>
        <ErrorAlert error={loadError} onRetry={load} />
        {!prefs && !loadError && <Loading label="Loading preferences…" />}
        {prefs && (
          <form onSubmit={save} aria-label="Notification preferences">
            <fieldset style={{ border: 0, padding: 0, margin: 0 }}>
              <legend className="visually-hidden">Send me an email for</legend>
              {KINDS.map((k) => {
                const applies = role ? k.roles.includes(role) : true
                return (
                  <div className="field" key={k.key}>
                    <label className="check">
                      <input type="checkbox" name={k.key} checked={Boolean(prefs[k.key])}
                        onChange={(e) => { setSaved(false); setPrefs({ ...prefs, [k.key]: e.target.checked }) }} />
                      {k.label}
                    </label>
                    <span className="hint">{k.hint}{!applies && ' (does not apply to your role)'}</span>
                  </div>
                )
              })}
            </fieldset>
            <ErrorAlert error={put.error} />
            {saved && <Alert kind="success">Preferences saved.</Alert>}
            <button type="submit" className="btn" disabled={put.isPending}>{put.isPending ? <><Spinner /> Saving…</> : 'Save preferences'}</button>
          </form>
        )}
      </div>
    </>
  )
}
