import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { useMemo, useState } from 'react'
import { Link } from 'react-router-dom'
import { useDocumentTitle } from '../../common/hooks'
import { Alert, Empty, ErrorAlert, Field, Loading } from '../../common/ui'
import { dashboardApi, dashboardKeys, type DeadLetterOwner } from './api'
import { ColumnChart, HBarList } from './charts'
import { IncidentsCard } from './IncidentsCard'
import { formatSeconds, lastDays, statsView } from './stats'

const DEAD_LETTER_OWNERS: DeadLetterOwner[] = ['tickets', 'triage', 'notifier']

/** A warning when any service holds dead letters (admins; hidden for others or on error). */
function DeadLetterBadge() {
  // not an admin, or a service away: no badge
  const open = useQuery({
    queryKey: dashboardKeys.deadLetters,
    queryFn: async () => (await Promise.all(DEAD_LETTER_OWNERS.map((s) => dashboardApi.deadLetters(s)))).reduce((a, page) => a + page.open, 0),
  }).data
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
  const [days, setDays] = useState(30)
  const figures = useQuery({
    queryKey: dashboardKeys.stats(days),
    // computed by the server in SQL (GET /api/stats): nothing here grows with the ticket count
    queryFn: () => dashboardApi.stats(lastDays(days)),
    placeholderData: keepPreviousData, // the last period's figures stay until the new ones come
  })
  const data = figures.data ?? null
  const error = figures.error
  const load = () => figures.refetch()

  const stats = useMemo(() => (data ? statsView(data) : null), [data])
  const maxLoad = stats ? Math.max(1, ...stats.load.map((x) => x.open + x.inProgress)) : 1

  return (
    <>
      <div className="page-head">
        <div>
          <h1>Dashboard</h1>
          <p>{data ? `${data.created.toLocaleString()} ticket${data.created === 1 ? '' : 's'} created from ${data.from} to ${data.to} (UTC); open work, overdue and triage as of now.` : 'Figures computed by the server.'}</p>
        </div>
        <div className="form-actions" style={{ marginTop: 0 }}>
          <Field label="Period">
            {(p) => (
              <select {...p} value={days} onChange={(e) => setDays(Number(e.target.value))}>
                <option value={7}>Last 7 days</option>
                <option value={14}>Last 14 days</option>
                <option value={30}>Last 30 days</option>
                <option value={90}>Last 90 days</option>
                <option value={365}>Last 365 days</option>
              </select>
            )}
          </Field>
          <button type="button" className="btn btn-secondary" onClick={() => void load()}>Refresh</button>
        </div>
      </div>
      <DeadLetterBadge />
      <IncidentsCard />
      <ErrorAlert error={error} onRetry={() => void load()} />
      {!stats && !error && <Loading label="Loading figures…" />}
      {data && stats && (
        <>
          <div className="stats-row" data-testid="dashboard-stats">
            <div className="stat"><div className="value">{data.created.toLocaleString()}</div><div className="label">ticket{data.created === 1 ? '' : 's'} in the period</div></div>
            <div className="stat"><div className="value">{stats.active.toLocaleString()}</div><div className="label">open or in progress</div></div>
            <div className={`stat ${data.overdue.total ? 'danger' : ''}`}>
              <div className="value">{data.overdue.total.toLocaleString()}</div>
              <div className="label"><Link to="/admin/tickets?overdue=true">overdue</Link></div>
            </div>
            <div className="stat"><div className="value">{formatSeconds(data.time_to_triage.p50_seconds)}</div><div className="label">median time to triage (p90 {formatSeconds(data.time_to_triage.p90_seconds)})</div></div>
            <div className="stat"><div className="value">{formatSeconds(data.time_to_resolve.p50_seconds)}</div><div className="label">median time to resolve ({data.time_to_resolve.count.toLocaleString()} done)</div></div>
            <div className={`stat ${data.triage.failed ? 'danger' : ''}`}><div className="value">{data.triage.failed}</div><div className="label">triage failed ({data.triage.pending} pending)</div></div>
            <div className={`stat ${data.triage.waiting ? 'danger' : ''}`} data-testid="waiting-stat"><div className="value">{data.triage.waiting}</div><div className="label">waiting for a free moderator</div></div>
          </div>
          {data.created === 0 && (
            <Empty icon="chart" title="Nothing to chart yet"><p>No tickets were created in this period.</p></Empty>
          )}
          {data.created > 0 && (
            <>
              <section className="card" aria-labelledby="perday-title">
                <h2 id="perday-title">Tickets per day</h2>
                <ColumnChart data={stats.perDay} title={`Tickets per day, last ${days} days`} />
              </section>
              <div className="grid-cards">
                <section className="card span-2" aria-labelledby="cat-chart"><h2 id="cat-chart">By category</h2><HBarList data={stats.byCategory} /></section>
                <section className="card" aria-labelledby="prio-chart"><h2 id="prio-chart">By priority</h2><HBarList data={stats.byPriority} colorByLabel /></section>
                <section className="card" aria-labelledby="status-chart"><h2 id="status-chart">By status</h2><HBarList data={stats.byStatus} /></section>
                <section className="card" aria-labelledby="overdue-chart"><h2 id="overdue-chart">Overdue by priority</h2><HBarList data={stats.overdueByPriority} colorByLabel emptyText="Nothing overdue." /></section>
                <section className="card" aria-labelledby="times">
                  <h2 id="times">Response times</h2>
                  <dl className="ticket-meta">
                    <dt>Triage, median</dt><dd>{formatSeconds(data.time_to_triage.p50_seconds)}</dd>
                    <dt>Triage, p90</dt><dd>{formatSeconds(data.time_to_triage.p90_seconds)}</dd>
                    <dt>Resolve, median</dt><dd>{formatSeconds(data.time_to_resolve.p50_seconds)}</dd>
                    <dt>Resolve, p90</dt><dd>{formatSeconds(data.time_to_resolve.p90_seconds)}</dd>
                  </dl>
                  <p className="muted small" style={{ marginTop: '0.5rem' }}>Of the tickets created in the period: triage until triaged, resolve until first resolved or closed.</p>
                </section>
              </div>
            </>
          )}
          <section className="card" aria-labelledby="load-title">
            <h2 id="load-title">Open load per moderator</h2>
            {stats.load.length === 0 ? (
              <p className="muted">No open assigned tickets.</p>
            ) : (
              <div className="table-wrap">
                <table className="data responsive" data-testid="load-table">
                  <thead><tr><th scope="col">Assignee</th><th scope="col">Open</th><th scope="col">In progress</th><th scope="col">Overdue</th><th scope="col">Load</th></tr></thead>
                  <tbody>
                    {stats.load.map((l) => (
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
                    ))}
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
