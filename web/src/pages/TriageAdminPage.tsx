import { useCallback, useEffect, useRef, useState, type ChangeEvent, type FormEvent } from 'react'
import { api } from '../api/client'
import type { Category, ModelStatus } from '../api/types'
import { Alert, ErrorAlert, Field, Loading, Spinner } from '../components/ui'
import { chunk, parseExamplesCsv, type ExamplesParseResult } from '../lib/csv'
import { formatDateTime } from '../lib/format'
import { useDocumentTitle, usePolling } from '../lib/hooks'
import { validateCategories } from '../lib/validation'

function CategoriesEditor({ onLoaded }: { onLoaded: (names: string[]) => void }) {
  const [cats, setCats] = useState<Category[] | null>(null)
  const [loadError, setLoadError] = useState<unknown>(null)
  const [errors, setErrors] = useState<{ form: string | null; rows: Record<number, string> }>({ form: null, rows: {} })
  const [apiError, setApiError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const [saved, setSaved] = useState(false)
  const lastInput = useRef<HTMLInputElement | null>(null)

  const load = useCallback(() => {
    setLoadError(null)
    api.categories().then((r) => { setCats(r.categories); onLoaded(r.categories.map((c) => c.name)) }, setLoadError)
  }, [onLoaded])
  useEffect(load, [load])

  const edit = (i: number, patch: Partial<Category>) => {
    setSaved(false)
    setCats((cs) => cs && cs.map((c, j) => (j === i ? { ...c, ...patch } : c)))
  }

  async function save(e: FormEvent) {
    e.preventDefault()
    if (!cats) return
    const cleaned = cats.map((c) => ({ name: c.name.trim(), description: c.description.trim() }))
    const v = validateCategories(cleaned)
    setErrors(v)
    setApiError(null)
    setSaved(false)
    if (v.form || Object.keys(v.rows).length) return
    setBusy(true)
    try {
      const r = await api.putCategories(cleaned)
      setCats(r.categories)
      onLoaded(r.categories.map((c) => c.name))
      setSaved(true)
    } catch (err) {
      setApiError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <section className="card" aria-labelledby="cat-title">
      <div className="card-head">
        <h2 id="cat-title">Categories</h2>
        <span className="muted small">Triage chooses from these (2 to 100).</span>
      </div>
      <ErrorAlert error={loadError} onRetry={load} />
      {!cats && !loadError && <Loading label="Loading categories…" />}
      {cats && (
        <form onSubmit={save} noValidate aria-label="Categories">
          <ErrorAlert error={apiError} />
          {errors.form && <Alert kind="error">{errors.form}</Alert>}
          {saved && <Alert kind="success">Categories saved. New tickets are triaged with them.</Alert>}
          <div className="cat-row muted small" aria-hidden="true"><span>Name</span><span>Description (helps the AI choose)</span><span /></div>
          {cats.map((c, i) => (
            <div className="cat-row" key={i}>
              <input type="text" aria-label={`Category ${i + 1} name`} value={c.name} maxLength={80} aria-invalid={Boolean(errors.rows[i])}
                ref={i === cats.length - 1 ? lastInput : undefined} onChange={(e) => edit(i, { name: e.target.value })} />
              <input type="text" aria-label={`Category ${i + 1} description`} value={c.description} onChange={(e) => edit(i, { description: e.target.value })} />
              <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove category ${c.name || i + 1}`}
                onClick={() => { setSaved(false); setCats(cats.filter((_, j) => j !== i)) }}>Remove</button>
              {errors.rows[i] && <span className="error">{errors.rows[i]}</span>}
            </div>
          ))}
          <div className="form-actions">
            <button type="button" className="btn btn-secondary" disabled={cats.length >= 100}
              onClick={() => { setCats([...cats, { name: '', description: '' }]); setTimeout(() => lastInput.current?.focus(), 0) }}>
              Add category
            </button>
            <button type="submit" className="btn" disabled={busy}>{busy ? <><Spinner /> Saving…</> : 'Save categories'}</button>
          </div>
        </form>
      )}
    </section>
  )
}

function ExamplesImport({ categories }: { categories: string[] | null }) {
  const [parsed, setParsed] = useState<ExamplesParseResult | null>(null)
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null)
  const [accepted, setAccepted] = useState<number | null>(null)
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)

  async function pick(e: ChangeEvent<HTMLInputElement>) {
    const f = e.target.files?.[0]
    setParsed(null)
    setAccepted(null)
    setError(null)
    setProgress(null)
    if (!f) return
    if (f.size > 50 * 1024 * 1024) {
      setError(new Error('The file is larger than 50 MB; split it first.'))
      return
    }
    const text = await f.text()
    setParsed(parseExamplesCsv(text, categories ?? undefined))
  }

  async function upload(e: FormEvent) {
    e.preventDefault()
    if (!parsed || parsed.examples.length === 0) return
    // After a failed batch, carry on from it instead of sending the accepted ones again.
    const resume = error && progress ? progress.sent : 0
    const chunks = chunk(parsed.examples.slice(resume), 1000)
    setBusy(true)
    setError(null)
    let sent = resume
    let acc = resume ? (accepted ?? 0) : 0
    setAccepted(null)
    setProgress({ sent, total: parsed.examples.length })
    try {
      for (const c of chunks) {
        const r = await api.importExamples(c)
        sent += c.length
        acc += r?.accepted ?? c.length
        setProgress({ sent, total: parsed.examples.length })
      }
      setAccepted(acc)
    } catch (err) {
      setError(err)
      setAccepted(acc || null)
    } finally {
      setBusy(false)
    }
  }

  const pct = progress ? Math.round((progress.sent / Math.max(1, progress.total)) * 100) : 0
  return (
    <section className="card" aria-labelledby="imp-title">
      <h2 id="imp-title">Import labelled examples</h2>
      <p className="muted">
        A CSV with the columns <code>title,description,category,priority,skills</code> (skills separated by <code>|</code>), e.g. an
        export from your previous helpdesk. It is checked here, then sent in batches of 1,000.
      </p>
      <form onSubmit={upload} noValidate aria-label="Import examples">
        <Field label="CSV file">
          {(p) => <input {...p} type="file" name="csv" accept=".csv,text/csv" onChange={pick} disabled={busy} />}
        </Field>
        {parsed && (
          <div role="status">
            <p>
              <strong>{parsed.examples.length.toLocaleString()}</strong> valid example{parsed.examples.length === 1 ? '' : 's'} of {parsed.rows.toLocaleString()} row{parsed.rows === 1 ? '' : 's'}
              {parsed.errors.length > 0 && <>; <strong style={{ color: 'var(--danger)' }}>{parsed.errors.length}</strong> with problems (skipped)</>}.
            </p>
            {parsed.errors.length > 0 && (
              <div className="alert alert-warn">
                <ul>
                  {parsed.errors.slice(0, 10).map((er, i) => <li key={i}>{er.line ? `Line ${er.line}: ` : ''}{er.message}</li>)}
                </ul>
                {parsed.errors.length > 10 && <div>…and {parsed.errors.length - 10} more.</div>}
              </div>
            )}
          </div>
        )}
        {progress && (
          <div>
            <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} aria-label="Upload progress"><span style={{ width: `${pct}%` }} /></div>
            <p className="small muted">{progress.sent.toLocaleString()} / {progress.total.toLocaleString()} sent</p>
          </div>
        )}
        <ErrorAlert error={error} />
        {error && accepted ? <Alert kind="warn">{accepted.toLocaleString()} examples were accepted before the error; the rest were not sent.</Alert> : null}
        {accepted != null && !error && <Alert kind="success">{accepted.toLocaleString()} examples accepted. Retrain the model to use them.</Alert>}
        <button type="submit" className="btn" disabled={busy || !parsed || parsed.examples.length === 0 || (accepted != null && !error)}>
          {busy ? <><Spinner /> Uploading…</> : error && progress?.sent ? 'Resume upload' : `Upload ${parsed?.examples.length ? parsed.examples.length.toLocaleString() + ' examples' : ''}`}
        </button>
      </form>
    </section>
  )
}

function pct(x: number | null | undefined): string {
  return x == null ? '—' : `${Math.round(x * 100)}%`
}

function ModelPanel() {
  const [model, setModel] = useState<ModelStatus | null>(null)
  const [loadError, setLoadError] = useState<unknown>(null)
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const [watchUntil, setWatchUntil] = useState(0)
  const [requested, setRequested] = useState(false)
  const [finished, setFinished] = useState(false)

  const versionAtRequest = useRef<number | null | undefined>(undefined)
  const load = useCallback(async () => {
    try {
      const m = await api.model()
      setModel(m)
      setLoadError(null)
      // A new version that is no longer training means the retrain finished.
      if (versionAtRequest.current !== undefined && !m.training && m.version !== versionAtRequest.current) {
        versionAtRequest.current = undefined
        setWatchUntil(0)
        setFinished(true)
      }
    } catch (e) {
      setLoadError(e)
    }
  }, [])
  useEffect(() => { void load() }, [load])
  usePolling(async () => { await load(); if (Date.now() > watchUntil) setWatchUntil(0) }, 3000, watchUntil > 0 || Boolean(model?.training))

  async function retrain() {
    setBusy(true)
    setError(null)
    try {
      versionAtRequest.current = model?.version ?? null
      await api.retrain()
      setRequested(true)
      setFinished(false)
      setWatchUntil(Date.now() + 120_000)
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }

  return (
    <section className="card" aria-labelledby="model-title">
      <h2 id="model-title">Local model</h2>
      <ErrorAlert error={loadError} onRetry={() => void load()} />
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
        <button type="button" className="btn" onClick={retrain} disabled={busy || Boolean(model?.training)}>{busy ? <><Spinner /> Requesting…</> : 'Retrain now'}</button>
        <button type="button" className="btn btn-ghost" onClick={() => void load()}>Refresh</button>
      </div>
      <p className="muted small">Metrics come from cross-validation on the examples.</p>
    </section>
  )
}

export function TriageAdminPage() {
  useDocumentTitle('Triage')
  const [names, setNames] = useState<string[] | null>(null)
  const onLoaded = useCallback((n: string[]) => setNames(n), [])
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Triage</h1>
          <p>What the AI may choose from, what it learns from, and how well it does.</p>
        </div>
      </div>
      <div className="grid-2">
        <div>
          <CategoriesEditor onLoaded={onLoaded} />
          <ExamplesImport categories={names} />
        </div>
        <div>
          <ModelPanel />
        </div>
      </div>
    </>
  )
}
