import { useMutation, useQuery } from '@tanstack/react-query'
import { useEffect, useRef, useState } from 'react'
import { formatDateTime } from '../../common/format'
import { Alert, ErrorAlert, Loading, Spinner } from '../../common/ui'
import { triageApi, triageKeys } from './api'

function pct(x: number | null | undefined): string {
  return x == null ? '—' : `${Math.round(x * 100)}%`
}

/** The triage model: provider, version, accuracy; retrain and watch it finish. */
export function ModelPanel() {
  const [watchUntil, setWatchUntil] = useState(0)
  const [requested, setRequested] = useState(false)
  const [finished, setFinished] = useState(false)
  const versionAtRequest = useRef<number | null | undefined>(undefined)
  const status = useQuery({
    queryKey: triageKeys.model,
    queryFn: triageApi.model,
    refetchInterval: (query) => (watchUntil > 0 || query.state.data?.training ? 3000 : false),
    refetchIntervalInBackground: true,
  })
  const model = status.data ?? null
  const loadError = status.error
  const load = () => void status.refetch()

  // after each answer: a new version that is no longer training means the retrain finished
  useEffect(() => {
    const m = status.data
    if (m && versionAtRequest.current !== undefined && !m.training && m.version !== versionAtRequest.current) {
      versionAtRequest.current = undefined
      setWatchUntil(0)
      setFinished(true)
    } else if (watchUntil && Date.now() > watchUntil) {
      setWatchUntil(0)
    }
  }, [status.data, status.dataUpdatedAt, status.errorUpdatedAt, watchUntil])

  const retrain = useMutation({
    mutationFn: () => {
      versionAtRequest.current = model?.version ?? null
      return triageApi.retrain()
    },
    onSuccess: () => {
      setRequested(true)
      setFinished(false)
      setWatchUntil(Date.now() + 120_000)
    },
  })
  const busy = retrain.isPending
  const error = retrain.error

  return (
    <section className="card" aria-labelledby="model-title">
      <h2 id="model-title">Local model</h2>
      <ErrorAlert error={loadError} onRetry={load} />
      {!model && !loadError && <Loading label="Loading model status…" />}
      {model && (
        <dl className="ticket-meta" data-testid="model-status">
          <dt>Provider</dt><dd>{model.provider === 'gemini' ? `Gemini${model.gemini_model ? ` (${model.gemini_model})` : ''}, local model as fallback` : model.provider === 'local' ? 'Local model' : '—'}</dd>
          <dt>Version</dt><dd>{model.version ?? 'none yet'}{model.training && <> · <span className="badge badge-pending"><Spinner /> training</span></>}</dd>
          <dt>Trained</dt><dd>{formatDateTime(model.trained_at)}</dd>
          <dt>Examples</dt><dd>{model.examples?.toLocaleString() ?? '—'}</dd>
          <dt>Category accuracy</dt><dd>{pct(model.metrics?.category_accuracy)}</dd>
          <dt>Priority accuracy</dt><dd>{pct(model.metrics?.priority_accuracy)}</dd>
        </dl>
      )}
      <ErrorAlert error={error} />
      {requested && <Alert kind={watchUntil || model?.training ? 'info' : 'success'}>{watchUntil || model?.training ? <><Spinner /> Training… the current model keeps triaging until the new one is ready.</> : finished ? `Retraining finished: version ${model?.version ?? '?'} is live.` : 'Retraining requested; refresh to see when it is done.'}</Alert>}
      <div className="form-actions">
        <button type="button" className="btn" onClick={() => retrain.mutate()} disabled={busy || Boolean(model?.training)}>{busy ? <><Spinner /> Requesting…</> : 'Retrain now'}</button>
        <button type="button" className="btn btn-ghost" onClick={load}>Refresh</button>
      </div>
      <p className="muted small">Metrics come from cross-validation on the examples.</p>
    </section>
  )
}
