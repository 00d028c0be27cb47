import { useState } from 'react'
import { usePagedQuery } from '../../api/query'
import { ROLES, type Role } from '../../api/types'
import { useDocumentTitle } from '../../common/hooks'
import { Alert, Empty, ErrorAlert, Field, LoadMore, Loading } from '../../common/ui'
import { useAuth } from '../auth/session'
import { usersApi, usersKeys } from './api'
import { UserRow } from './UserRow'

/** /admin/users — find people; set their role and skills. */
export function UsersPage() {
  useDocumentTitle('Users')
  const { userId } = useAuth()
  const [q, setQ] = useState('')
  const [query, setQuery] = useState({ q: '', role: '' as Role | '' })
  const list = usePagedQuery(usersKeys.list(query), (cursor) => usersApi.users({ ...query, cursor }))

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
