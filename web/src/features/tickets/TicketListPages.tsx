import { useQuery } from '@tanstack/react-query'
import { useMemo, useState, type FormEvent } from 'react'
import { Link, useSearchParams } from 'react-router-dom'
import { usePagedQuery } from '../../api/query'
import { PRIORITIES, STATUSES, type Priority, type Status, type TicketFilters } from '../../api/types'
import { useDocumentTitle, usePolling } from '../../common/hooks'
import { Empty, ErrorAlert, Field, LoadMore, Loading } from '../../common/ui'
import { priorityLabel, statusLabel } from '../../common/format'
import { useAuth } from '../auth/session'
import { usersApi, usersKeys } from '../users/api'
import { ticketKeys, ticketsApi } from './api'
import { queueFilters, queueView, type QueueView } from './queue'
import { sortTickets, type Sort, type SortKey } from './sort'
import { TicketTable } from './TicketTable'

interface ListProps {
  title: string
  intro: string
  fixed?: TicketFilters
  extraFilters?: boolean
  showRequester?: boolean
  showAssignee?: boolean
  emptyTitle: string
  emptyBody: React.ReactNode
  /** Shown between the heading and the filters (the queue's parts). */
  nav?: React.ReactNode
}

const SORT_KEYS: SortKey[] = ['created', 'updated', 'priority', 'status', 'due', 'title']

function readFilters(sp: URLSearchParams): TicketFilters {
  const status = sp.get('status') as Status | null
  const priority = sp.get('priority') as Priority | null
  return {
    status: status && STATUSES.includes(status) ? status : '',
    priority: priority && PRIORITIES.includes(priority) ? priority : '',
    overdue: sp.get('overdue') === 'true',
    category: sp.get('category') ?? '',
    q: sp.get('q') ?? '',
    assigned_to: sp.get('assigned_to') ?? '',
  }
}

function keepOnly(sp: URLSearchParams, ...keys: string[]): URLSearchParams {
  const next = new URLSearchParams()
  for (const k of keys) { const v = sp.get(k); if (v) next.set(k, v) }
  return next
}

function TicketListView({ title, intro, fixed = {}, extraFilters, showRequester, showAssignee = true, emptyTitle, emptyBody, nav }: ListProps) {
  useDocumentTitle(title)
  const [sp, setSp] = useSearchParams()
  const filters = readFilters(sp)
  const sortKey = (SORT_KEYS as string[]).includes(sp.get('sort') ?? '') ? (sp.get('sort') as SortKey) : 'created'
  const sort: Sort = { key: sortKey, dir: sp.get('dir') === 'asc' ? 'asc' : 'desc' }
  const query: TicketFilters = { ...filters, ...fixed }
  if (!extraFilters) { delete query.assigned_to; if (fixed.assigned_to) query.assigned_to = fixed.assigned_to }
  const list = usePagedQuery(ticketKeys.list(query), (cursor) => ticketsApi.tickets({ ...query, cursor }))
  const sorted = useMemo(() => sortTickets(list.items, sort), [list.items, sort.key, sort.dir])
  // Tickets still being triaged get their result in place, without reloading the list.
  const pendingIds = list.items.filter((t) => t.triage.state === 'pending').slice(0, 10).map((t) => t.id)
  usePolling(async () => {
    const fresh = await Promise.all(pendingIds.map((id) => ticketsApi.ticket(id).catch(() => null)))
    const byId = new Map(fresh.filter((t): t is NonNullable<typeof t> => t !== null).map((t) => [t.id, t]))
    if (byId.size) list.updateItems((x) => byId.get(x.id) ?? x)
  }, 3000, pendingIds.length > 0)
  const [q, setQ] = useState(filters.q ?? '')
  const [category, setCategory] = useState(filters.category ?? '')
  const { role } = useAuth()
  const moderators = useQuery({ queryKey: usersKeys.staff, queryFn: usersApi.staff, enabled: Boolean(extraFilters) && role === 'admin' }).data ?? []

  const update = (patch: Record<string, string | null>) => {
    const next = new URLSearchParams(sp)
    for (const [k, v] of Object.entries(patch)) {
      if (v === null || v === '') next.delete(k)
      else next.set(k, v)
    }
    setSp(next, { replace: true })
  }
  const submitSearch = (e: FormEvent) => {
    e.preventDefault()
    update({ q: q.trim(), category: category.trim() })
  }
  const anyFilter = Boolean(filters.status || filters.priority || filters.overdue || filters.q || filters.category || (extraFilters && filters.assigned_to))

  return (
    <>
      <div className="page-head">
        <div>
          <h1>{title}</h1>
          <p>{intro}</p>
        </div>
        <Link to="/tickets/new" className="btn">New ticket</Link>
      </div>
      {nav}
      <section className="card" aria-label="Filters">
        <form className="filters" onSubmit={submitSearch} role="search">
          <Field label="Status">
            {(p) => (
              <select {...p} value={filters.status} onChange={(e) => update({ status: e.target.value })}>
                <option value="">Any status</option>
                {STATUSES.map((s) => <option key={s} value={s}>{statusLabel(s)}</option>)}
              </select>
            )}
          </Field>
          <Field label="Priority">
            {(p) => (
              <select {...p} value={filters.priority} onChange={(e) => update({ priority: e.target.value })}>
                <option value="">Any priority</option>
                {PRIORITIES.map((s) => <option key={s} value={s}>{priorityLabel(s)}</option>)}
              </select>
            )}
          </Field>
          <Field label="Sort by">
            {(p) => (
              <select {...p} value={`${sort.key}:${sort.dir}`} onChange={(e) => { const [k, d] = e.target.value.split(':'); update({ sort: k, dir: d }) }}>
                <option value="created:desc">Newest first</option>
                <option value="created:asc">Oldest first</option>
                <option value="priority:desc">Highest priority</option>
                <option value="due:asc">Due soonest</option>
                <option value="updated:desc">Recently updated</option>
                <option value="status:asc">Status</option>
                <option value="title:asc">Title A–Z</option>
              </select>
            )}
          </Field>
          {extraFilters && (
            <>
              <Field label="Category">
                {(p) => <input {...p} type="text" value={category} onChange={(e) => setCategory(e.target.value)} placeholder="Any" />}
              </Field>
              <Field label="Assignee">
                {(p) => (
                  <select {...p} value={filters.assigned_to} onChange={(e) => update({ assigned_to: e.target.value })}>
                    <option value="">Anyone</option>
                    <option value="me">Me</option>
                    {moderators.map((m) => <option key={m.id} value={m.id}>{m.name || m.email}</option>)}
                  </select>
                )}
              </Field>
            </>
          )}
          <Field label="Search" className="grow">
            {(p) => <input {...p} type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Words in title or description" maxLength={200} />}
          </Field>
          <label className="check">
            <input type="checkbox" checked={Boolean(filters.overdue)} onChange={(e) => update({ overdue: e.target.checked ? 'true' : null })} />
            Overdue only
          </label>
          <button type="submit" className="btn btn-secondary">Search</button>
          {anyFilter && (
            <button type="button" className="btn btn-ghost" onClick={() => { setQ(''); setCategory(''); setSp(keepOnly(sp, 'view'), { replace: true }) }}>
              Clear filters
            </button>
          )}
        </form>
      </section>
      <section className="card" aria-label="Tickets" aria-busy={list.loading}>
        {list.error ? <ErrorAlert error={list.error} onRetry={list.reload} /> : null}
        {!list.loaded && list.loading ? (
          <Loading label="Loading tickets…" />
        ) : list.items.length === 0 && !list.error ? (
          anyFilter ? (
            <Empty icon="search" title="No tickets match these filters"><p>Try clearing a filter.</p></Empty>
          ) : (
            <Empty title={emptyTitle}>{emptyBody}</Empty>
          )
        ) : (
          <>
            <TicketTable tickets={sorted} sort={sort} onSort={(s) => update({ sort: s.key, dir: s.dir })} showRequester={showRequester} showAssignee={showAssignee} />
            <LoadMore hasMore={list.hasMore} loading={list.loading} onClick={list.loadMore} count={list.items.length} />
            {list.hasMore && sort.key !== 'created' && <p className="muted small">Sorting applies to the tickets loaded so far.</p>}
          </>
        )}
      </section>
    </>
  )
}

export function MyTicketsPage() {
  const { role } = useAuth()
  return (
    <TicketListView
      title={role === 'user' ? 'My tickets' : 'Tickets I can see'}
      intro={role === 'user' ? 'Everything you have asked us, newest first.' : role === 'moderator' ? 'Tickets you filed, tickets assigned to you and tickets waiting for a free slot of yours.' : 'Tickets you filed and tickets assigned to you.'}
      emptyTitle="No tickets yet"
      emptyBody={<p>When something goes wrong, <Link to="/tickets/new">file a ticket</Link> and we will triage it right away.</p>}
      showRequester={role !== 'user'}
    />
  )
}

const QUEUE_PARTS: { view: QueueView; label: string }[] = [
  { view: 'assigned', label: 'Assigned to me' },
  { view: 'waiting', label: 'Waiting for a free slot' },
]

export function QueuePage() {
  const [sp, setSp] = useSearchParams()
  const view = queueView(sp)
  const nav = (
    <nav className="chips" aria-label="Queue" style={{ gap: '0.4rem', marginBottom: '1rem' }} data-testid="queue-parts">
      {QUEUE_PARTS.map((p) => (
        <button
          key={p.view}
          type="button"
          className={`btn btn-small ${p.view === view ? '' : 'btn-secondary'}`}
          aria-pressed={p.view === view}
          onClick={() => { const next = new URLSearchParams(sp); if (p.view === 'waiting') next.set('view', 'waiting'); else next.delete('view'); setSp(next, { replace: true }) }}
        >
          {p.label}
        </button>
      ))}
    </nav>
  )
  if (view === 'waiting') {
    return (
      <TicketListView
        key="waiting"
        title="My queue"
        intro="Tickets that fit your skills and wait because everyone who fits is at capacity. The SLA is running; the first of you to free a slot (resolve or close a ticket) gets the ticket automatically."
        fixed={queueFilters('waiting')}
        nav={nav}
        showRequester
        showAssignee={false}
        emptyTitle="Nothing is waiting for you"
        emptyBody={<p>When every moderator who fits a ticket is full, it waits here until one of you frees a slot.</p>}
      />
    )
  }
  return (
    <TicketListView
      key="assigned"
      title="My queue"
      intro="Tickets assigned to you. Filter by status, priority or overdue; sort by any column."
      fixed={queueFilters('assigned')}
      nav={nav}
      showRequester
      showAssignee={false}
      emptyTitle="Your queue is empty"
      emptyBody={<p>New tickets that match your skills will show up here.</p>}
    />
  )
}

export function AdminTicketsPage() {
  return (
    <TicketListView
      title="All tickets"
      intro="Every ticket in the helpdesk."
      extraFilters
      showRequester
      emptyTitle="No tickets yet"
      emptyBody={<p>Tickets appear here as soon as requesters file them.</p>}
    />
  )
}
