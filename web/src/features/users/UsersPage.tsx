import { useMutation } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { usePagedQuery } from '../../api/query'
import { ROLES, type Role, type User } from '../../api/types'
import { useDocumentTitle } from '../../common/hooks'
import { Alert, Empty, ErrorAlert, Field, LoadMore, Loading, Spinner, When } from '../../common/ui'
import { parseSkills, validateSkills } from '../../common/validation'
import { useAuth } from '../auth/session'
import { usersApi } from './api'

function UserRow({ user, onSaved, isMe }: { user: User; onSaved: (u: User) => void; isMe: boolean }) {
  const [role, setRole] = useState<Role>(user.role)
  const [skills, setSkills] = useState(user.skills.join(', '))
  const [fieldError, setFieldError] = useState<string | null>(null)
  const [saved, setSaved] = useState(false)
  const parsed = parseSkills(skills)
  const dirty = role !== user.role || parsed.join('\u0000') !== user.skills.join('\u0000')
  const update = useMutation({
    mutationFn: usersApi.updateUser,
    onSuccess: (u) => {
      onSaved(u)
      setRole(u.role)
      setSkills(u.skills.join(', '))
      setSaved(true)
    },
  })
  const busy = update.isPending
  const error = update.error

  function save(e: FormEvent) {
    e.preventDefault()
    const v = validateSkills(parsed)
    setFieldError(v)
    update.reset()
    setSaved(false)
    if (v) return
    const body: { email: string; role?: Role; skills?: string[] } = { email: user.email }
    if (role !== user.role) body.role = role
    if (parsed.join('\u0000') !== user.skills.join('\u0000')) body.skills = parsed
    update.mutate(body)
  }

  const slug = user.email.replace(/[^a-z0-9]/gi, '-')
  return (
    <tr data-user-email={user.email}>
      <td className="title-cell">
        <strong>{user.name || user.email}</strong>
        {user.name && <div className="sub">{user.email}</div>}
        {isMe && <div className="sub">(you)</div>}
        {user.email_verified === false && <div className="sub" data-testid="unverified">email not verified</div>}
      </td>
      <td data-label="Joined" className="nowrap"><When iso={user.created_at} /></td>
      <td data-label="Access" style={{ minWidth: 280 }}>
        <form className="user-row-edit" onSubmit={save} aria-label={`Edit ${user.email}`} noValidate>
          <label className="visually-hidden" htmlFor={`role-${slug}`}>Role of {user.email}</label>
          <select id={`role-${slug}`} name="role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
          </select>
          <label className="visually-hidden" htmlFor={`skills-${slug}`}>Skills of {user.email} (comma-separated)</label>
          <input id={`skills-${slug}`} name="skills" type="text" value={skills} placeholder="skills, comma-separated"
            aria-invalid={Boolean(fieldError)} onChange={(e) => { setSkills(e.target.value); setSaved(false) }} />
          <button type="submit" className="btn btn-small" disabled={busy || !dirty}>{busy ? <Spinner /> : 'Save'}</button>
        </form>
        {fieldError && <div className="error small" style={{ color: 'var(--danger)' }}>{fieldError}</div>}
        {saved && <div className="small" style={{ color: 'var(--ok)' }} role="status">Saved.</div>}
        {error ? <div style={{ marginTop: '0.4rem' }}><ErrorAlert error={error} /></div> : null}
      </td>
    </tr>
  )
}

export function UsersPage() {
  useDocumentTitle('Users')
  const { userId } = useAuth()
  const [q, setQ] = useState('')
  const [query, setQuery] = useState({ q: '', role: '' as Role | '' })
  const list = usePagedQuery(['users', 'list', query], (cursor) => usersApi.users({ ...query, cursor }))

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Users</h1>
          <p>Promote people to moderator, give them skills (tickets are routed by skill), or make them admins.</p>
        </div>
      </div>
      <section className="card" aria-label="Search users">
        <form className="filters" role="search" onSubmit={(e) => { e.preventDefault(); setQuery((s) => ({ ...s, q: q.trim() })) }}>
          <Field label="Search" className="grow">
            {(p) => <input {...p} type="search" name="q" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Name or email contains…" />}
          </Field>
          <Field label="Role">
            {(p) => (
              <select {...p} value={query.role} onChange={(e) => setQuery((s) => ({ ...s, role: e.target.value as Role | '' }))}>
                <option value="">Any role</option>
                {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
              </select>
            )}
          </Field>
          <button type="submit" className="btn btn-secondary">Search</button>
        </form>
      </section>
      <section className="card" aria-label="Users" aria-busy={list.loading}>
        <Alert kind="info">A changed role takes effect at the user's next sign-in (old sessions lose raised rights within a minute). Only accounts whose email address is verified can be made moderators or admins.</Alert>
        {list.error ? <ErrorAlert error={list.error} onRetry={list.reload} /> : null}
        {!list.loaded && list.loading ? (
          <Loading label="Loading users…" />
        ) : list.items.length === 0 && !list.error ? (
          <Empty icon="user" title="No users found"><p>Try another search.</p></Empty>
        ) : (
          <>
            <div className="table-wrap">
              <table className="data responsive">
                <thead>
                  <tr><th scope="col">User</th><th scope="col">Joined</th><th scope="col">Role and skills</th></tr>
                </thead>
                <tbody>
                  {list.items.map((u) => (
                    <UserRow key={u.id} user={u} isMe={u.id === userId}
                      onSaved={(nu) => list.updateItems((x) => (x.id === nu.id ? nu : x))} />
                  ))}
                </tbody>
              </table>
            </div>
            <LoadMore hasMore={list.hasMore} loading={list.loading} onClick={list.loadMore} count={list.items.length} />
          </>
        )}
      </section>
    </>
  )
}
