import { useCallback, useEffect, useMemo, useState } from 'react'
import { Link } from 'react-router-dom'
import { api, fetchAll } from '../api/client'
import type { Ticket } from '../api/types'
import { ColumnChart, HBarList } from '../components/charts'
import { Alert, Empty, ErrorAlert, Field, Loading } from '../components/ui'
import { useDocumentTitle } from '../lib/hooks'
import {
  assigneeLoad, countBy, countInOrder, durationStats, formatDuration, isActive, overdueSummary, resolveDurations, ticketsPerDay, triageDurations,
} from '../lib/stats'

const MAX_TICKETS = 5000
const DEAD_LETTER_OWNERS = ['tickets', 'triage', 'notifier'] as const

/** A warning when any service holds dead letters (admins; hidden for others or on error). */
function DeadLetterBadge() {
  const [open, setOpen] = useState<number | null>(null)
  useEffect(() => {
    let live = true
    Promise.all(DEAD_LETTER_OWNERS.map((s) => api.deadLetters(s).then((page) => page.open)))
      .then((counts) => { if (live) setOpen(counts.reduce((a, b) => a + b, 0)) })
      .catch(() => { /* not an admin, or a service away: no badge */ })
    return () => { live = false }
  }, [])
  if (!open) return null
  return (
    <Alert kind="warn">
      {open} dead letter{open === 1 ? '' : 's'} waiting: inspect, replay or discard them through
      /api/dead-letters/&lt;service&gt;, or run <code>make replay-dead-letters</code>.
    </Alert>
  )
}

export function DashboardPage() {
  useDocumentTitle('Dashboard')
  const [tickets, setTickets] = useState<Ticket[] | null>(null)
  const [truncated, setTruncated] = useState(false)
  const [progress, setProgress] = useState(0)
  const [error, setError] = useState<unknown>(null)
  const [days, setDays] = useState(30)
  const [loadedAt, setLoadedAt] = useState<number>(Date.now())

  const load = useCallback(async () => {
    setError(null)
    setProgress(0)
    try {
      const r = await fetchAll((cursor) => api.tickets({ limit: 100, cursor }), MAX_TICKETS, setProgress)
      setTickets(r.items)
      setTruncated(r.truncated)
      setLoadedAt(Date.now())
    } catch (e) {
      setError(e)
    }
  }, [])
  useEffect(() => { void load() }, [load])

  const stats = useMemo(() => {
    if (!tickets) return null
    const now = loadedAt
    return {
      perDay: ticketsPerDay(tickets, days, now),
      byCategory: countBy(tickets, (t) => t.category, 'Not triaged'),
      byPriority: countInOrder(tickets, (t) => t.priority, ['high', 'medium', 'low'], 'None'),
      byStatus: countInOrder(tickets, (t) => t.status.replace('_', ' '), ['open', 'in progress', 'resolved', 'closed']),
      triage: durationStats(triageDurations(tickets)),
      resolve: durationStats(resolveDurations(tickets)),
      overdue: overdueSummary(tickets, now),
      load: assigneeLoad(tickets, now),
      active: tickets.filter(isActive).length,
      failed: tickets.filter((t) => t.triage.state === 'failed').length,
      pending: tickets.filter((t) => t.triage.state === 'pending').length,
      waiting: tickets.filter((t) => t.triage.state === 'waiting').length,
    }
  }, [tickets, days, loadedAt])

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Dashboard</h1>
          <p>Computed in your browser from {tickets ? `${tickets.length.toLocaleString()} ticket${tickets.length === 1 ? '' : 's'}` : 'all tickets'}{truncated ? ` (the newest ${MAX_TICKETS.toLocaleString()})` : ''}.</p>
        </div>
        <div className="form-actions" style={{ marginTop: 0 }}>
          <Field label="Period">
            {(p) => (
              <select {...p} value={days} onChange={(e) => setDays(Number(e.target.value))}>
                <option value={7}>Last 7 days</option>
                <option value={14}>Last 14 days</option>
                <option value={30}>Last 30 days</option>
                <option value={90}>Last 90 days</option>
              </select>
            )}
          </Field>
          <button type="button" className="btn btn-secondary" onClick={() => void load()}>Refresh</button>
        </div>
      </div>
      <DeadLetterBadge />
      <ErrorAlert error={error} onRetry={() => void load()} />
      {!stats && !error && <Loading label={progress ? `Loading tickets… ${progress.toLocaleString()}` : 'Loading tickets…'} />}
      {stats && tickets && tickets.length === 0 && (
        <Empty icon="chart" title="Nothing to chart yet"><p>Charts fill in as tickets arrive.</p></Empty>
      )}
      {stats && tickets && tickets.length > 0 && (
        <>
          <div className="stats-row" data-testid="dashboard-stats">
            <div className="stat"><div className="value">{tickets.length.toLocaleString()}</div><div className="label">ticket{tickets.length === 1 ? '' : 's'}</div></div>
            <div className="stat"><div className="value">{stats.active.toLocaleString()}</div><div className="label">open or in progress</div></div>
            <div className={`stat ${stats.overdue.total ? 'danger' : ''}`}>
              <div className="value">{stats.overdue.total.toLocaleString()}</div>
              <div className="label"><Link to="/admin/tickets?overdue=true">overdue</Link></div>
            </div>
            <div className="stat"><div className="value">{formatDuration(stats.triage.medianMs)}</div><div className="label">median time to triage (p90 {formatDuration(stats.triage.p90Ms)})</div></div>
            <div className="stat"><div className="value">{formatDuration(stats.resolve.medianMs)}</div><div className="label">median time to resolve ({stats.resolve.count} done)</div></div>
            <div className={`stat ${stats.failed ? 'danger' : ''}`}><div className="value">{stats.failed}</div><div className="label">triage failed ({stats.pending} pending)</div></div>
            <div className={`stat ${stats.waiting ? 'danger' : ''}`} data-testid="waiting-stat"><div className="value">{stats.waiting}</div><div className="label">waiting for a free moderator</div></div>
          </div>
          <section className="card" aria-labelledby="perday-title">
            <h2 id="perday-title">Tickets per day</h2>
            <ColumnChart data={stats.perDay} title={`Tickets per day, last ${days} days`} />
          </section>
          <div className="grid-cards">
            <section className="card span-2" aria-labelledby="cat-chart"><h2 id="cat-chart">By category</h2><HBarList data={stats.byCategory} /></section>
            <section className="card" aria-labelledby="prio-chart"><h2 id="prio-chart">By priority</h2><HBarList data={stats.byPriority} colorByLabel /></section>
            <section className="card" aria-labelledby="status-chart"><h2 id="status-chart">By status</h2><HBarList data={stats.byStatus} /></section>
            <section className="card" aria-labelledby="overdue-chart"><h2 id="overdue-chart">Overdue by priority</h2><HBarList data={stats.overdue.byPriority} colorByLabel emptyText="Nothing overdue." /></section>
            <section className="card" aria-labelledby="times">
              <h2 id="times">Response times</h2>
              <dl className="ticket-meta">
                <dt>Triage, mean</dt><dd>{formatDuration(stats.triage.meanMs)}</dd>
                <dt>Triage, median</dt><dd>{formatDuration(stats.triage.medianMs)}</dd>
                <dt>Triage, p90</dt><dd>{formatDuration(stats.triage.p90Ms)}</dd>
                <dt>Resolve, mean</dt><dd>{formatDuration(stats.resolve.meanMs)}</dd>
                <dt>Resolve, median</dt><dd>{formatDuration(stats.resolve.medianMs)}</dd>
                <dt>Resolve, p90</dt><dd>{formatDuration(stats.resolve.p90Ms)}</dd>
              </dl>
              <p className="muted small" style={{ marginTop: '0.5rem' }}>Resolve time uses the last update of resolved and closed tickets.</p>
            </section>
          </div>
          <section className="card" aria-labelledby="load-title">
            <h2 id="load-title">Open load per moderator</h2>
            {stats.load.length === 0 ? (
              <p className="muted">No open assigned tickets.</p>
            ) : (
              <div className="table-wrap">
                <table className="data responsive" data-testid="load-table">
                  <thead><tr><th scope="col">Assignee</th><th scope="col">Open</th><th scope="col">In progress</th><th scope="col">Overdue</th><th scope="col">Load</th></tr></thead>
                  <tbody>
                    {stats.load.map((l) => {
                      const maxLoad = Math.max(...stats.load.map((x) => x.open + x.inProgress))
                      return (
                        <tr key={l.id}>
                          <td className="title-cell"><Link to={`/admin/tickets?assigned_to=${l.id}`}>{l.label}</Link></td>
                          <td data-label="Open">{l.open}</td>
                          <td data-label="In progress">{l.inProgress}</td>
                          <td data-label="Overdue">{l.overdue ? <span className="badge badge-overdue">{l.overdue}</span> : 0}</td>
                          <td data-label="Load" style={{ minWidth: 120 }}>
                            <span className="hbar" style={{ gridTemplateColumns: '1fr' }}>
                              <span className="track" aria-hidden="true"><span className="fill" style={{ width: `${((l.open + l.inProgress) / maxLoad) * 100}%`, display: 'block' }} /></span>
                            </span>
                          </td>
                        </tr>
                      )
                    })}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </>
      )}
    </>
  )
}
