import { useMutation } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { ROLES, type Role, type User } from '../../api/types'
import { ErrorAlert, Spinner, When } from '../../common/ui'
import { parseSkills, validateSkills } from '../../common/validation'
import { usersApi } from './api'

/** One user: role and skills edited in place, saved with one request. */
export function UserRow({ user, onSaved, isMe }: { user: User; onSaved: (u: User) => void; isMe: boolean }) {
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
