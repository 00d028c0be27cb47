import { Link } from 'react-router-dom'
import type { Ticket } from '../../api/types'
import { PriorityBadge, StatusBadge, TriageBadge, When } from '../../common/ui'
import { isOverdue } from './overdue'
import type { Sort, SortKey } from './sort'

interface Props {
  tickets: Ticket[]
  sort: Sort
  onSort: (s: Sort) => void
  showRequester?: boolean
  showAssignee?: boolean
}

function SortHeader({ label, k, sort, onSort }: { label: string; k: SortKey; sort: Sort; onSort: (s: Sort) => void }) {
  const active = sort.key === k
  const next: Sort = active ? { key: k, dir: sort.dir === 'asc' ? 'desc' : 'asc' } : { key: k, dir: k === 'title' || k === 'due' || k === 'status' ? 'asc' : 'desc' }
  return (
    <th aria-sort={active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'} scope="col">
      <button type="button" className="sort-btn" onClick={() => onSort(next)}>
        {label}
        <span aria-hidden="true">{active ? (sort.dir === 'asc' ? '▲' : '▼') : '↕'}</span>
      </button>
    </th>
  )
}

export function TicketTable({ tickets, sort, onSort, showRequester, showAssignee = true }: Props) {
  const now = Date.now()
  return (
    <div className="table-wrap">
      <table className="data responsive" data-testid="ticket-table">
        <thead>
          <tr>
            <SortHeader label="Ticket" k="title" sort={sort} onSort={onSort} />
            <SortHeader label="Status" k="status" sort={sort} onSort={onSort} />
            <SortHeader label="Priority" k="priority" sort={sort} onSort={onSort} />
            <th scope="col">Category</th>
            {showRequester && <th scope="col">Requester</th>}
            {showAssignee && <th scope="col">Assignee</th>}
            <SortHeader label="Created" k="created" sort={sort} onSort={onSort} />
            <SortHeader label="Due" k="due" sort={sort} onSort={onSort} />
          </tr>
        </thead>
        <tbody>
          {tickets.map((t) => {
            const overdue = isOverdue(t, now)
            return (
              <tr key={t.id} data-ticket-id={t.id}>
                <td className="title-cell">
                  <Link to={`/tickets/${t.id}`}>{t.title}</Link>
                  {t.triage.state !== 'done' && <> <TriageBadge state={t.triage.state} /></>}
                </td>
                <td data-label="Status"><StatusBadge status={t.status} /></td>
                <td data-label="Priority"><PriorityBadge priority={t.priority} /></td>
                <td data-label="Category">{t.category ?? <span className="muted">—</span>}</td>
                {showRequester && <td data-label="Requester">{t.created_by.name || t.created_by.email}</td>}
                {showAssignee && (
                  <td data-label="Assignee">{t.assigned_to ? (t.assigned_to.name || t.assigned_to.email) : <span className="muted">Unassigned</span>}</td>
                )}
                <td data-label="Created" className="nowrap"><When iso={t.created_at} /></td>
                <td data-label="Due" className="nowrap">
                  {overdue ? <span className="badge badge-overdue">Overdue</span> : <When iso={t.due_at} />}
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}
