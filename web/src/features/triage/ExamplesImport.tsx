import { useMutation } from '@tanstack/react-query'
import { useState, type ChangeEvent, type FormEvent } from 'react'
import type { Example } from '../../api/types'
import { Alert, ErrorAlert, Field, Spinner } from '../../common/ui'
import { triageApi } from './api'
import { chunk, parseExamplesCsv, type ExamplesParseResult } from './csv'

/** A CSV of labelled examples, checked here and sent in batches (resumable after an error). */
export function ExamplesImport({ categories }: { categories: string[] | null }) {
  const [parsed, setParsed] = useState<ExamplesParseResult | null>(null)
  // how far the current upload got: examples sent, and accepted by the server
  const [progress, setProgress] = useState<{ sent: number; total: number; accepted: number } | null>(null)
  const [fileError, setFileError] = useState<Error | null>(null)
  const send = useMutation({
    mutationFn: async ({ examples, resume, acceptedBefore }: { examples: Example[]; resume: number; acceptedBefore: number }) => {
      let sent = resume
      let acc = acceptedBefore
      setProgress({ sent, total: examples.length, accepted: acc })
      for (const c of chunk(examples.slice(resume), 1000)) {
        const r = await triageApi.importExamples(c)
        sent += c.length
        acc += r?.accepted ?? c.length
        setProgress({ sent, total: examples.length, accepted: acc })
      }
    },
  })
  const busy = send.isPending
  const error = send.error ?? fileError
  const accepted = send.isSuccess ? (progress?.accepted ?? 0) : send.isError ? (progress?.accepted || null) : null

  async function pick(e: ChangeEvent<HTMLInputElement>) {
    const f = e.target.files?.[0]
    setParsed(null)
    send.reset()
    setFileError(null)
    setProgress(null)
    if (!f) return
    if (f.size > 50 * 1024 * 1024) {
      setFileError(new Error('The file is larger than 50 MB; split it first.'))
      return
    }
    const text = await f.text()
    setParsed(parseExamplesCsv(text, categories ?? undefined))
  }

  function upload(e: FormEvent) {
    e.preventDefault()
    if (!parsed || parsed.examples.length === 0) return
    // After a failed batch, carry on from it instead of sending the accepted ones again.
    const resume = error && progress ? progress.sent : 0
    send.mutate({ examples: parsed.examples, resume, acceptedBefore: resume ? (progress?.accepted ?? 0) : 0 })
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
