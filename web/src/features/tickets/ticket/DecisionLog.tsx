import { keepPreviousData, useQuery } from '@tanstack/react-query'
import { useState } from 'react'
import { ErrorAlert, Loading, When } from '../../../common/ui'
import { triageApi, triageKeys } from '../../triage/api'

/** Every triage attempt of the ticket (admins), read when opened. */
export function DecisionLog({ ticketId, triageState }: { ticketId: string; triageState: string }) {
  const [open, setOpen] = useState(false)
  // read when opened, and again whenever the triage state moves (a new attempt was logged)
  const decisions = useQuery({
    queryKey: triageKeys.decisions(ticketId, triageState),
    queryFn: () => triageApi.decisions(ticketId),
    enabled: open,
    placeholderData: keepPreviousData,
  })
  const items = decisions.data?.items ?? null
  const error = decisions.error
  return (
    <details className="card" onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary><strong>Decision log</strong> <span className="muted small">every triage attempt, newest first</span></summary>
      <div style={{ marginTop: '0.75rem' }}>
        <ErrorAlert error={error} />
        {open && !items && !error && <Loading label="Loading decisions…" />}
        {items && items.length === 0 && <p className="muted">No decisions yet.</p>}
        {items && items.length > 0 && (
          <div className="table-wrap">
            <table className="data responsive">
              <thead><tr><th scope="col">When</th><th scope="col">Outcome</th><th scope="col">Model</th><th scope="col">Result</th><th scope="col">Assignee and reason</th></tr></thead>
              <tbody>
                {items.map((d) => (
                  <tr key={d.id}>
                    <td data-label="When" className="nowrap"><When iso={d.created_at} /> <span className="sub">#{d.attempt}</span></td>
                    <td data-label="Outcome">{d.outcome}</td>
                    <td data-label="Model">{[d.provider, d.model, d.model_version != null ? `v${d.model_version}` : null].filter(Boolean).join(' · ') || '—'}</td>
                    <td data-label="Result">{[d.category, d.priority].filter(Boolean).join(' / ') || '—'}{d.confidence != null && <span className="sub"> ({Math.round(d.confidence * 100)}%)</span>}</td>
                    <td data-label="Assignee">{d.assignee_name ?? '—'}<div className="sub">{d.assignment_reason}</div></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
    </details>
  )
}
