import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect, useRef, useState, type FormEvent } from 'react'
import type { Category } from '../../api/types'
import { Alert, ErrorAlert, Loading, Spinner } from '../../common/ui'
import { validateCategories } from '../../common/validation'
import { triageApi, triageKeys } from './api'

/** The categories triage may choose from: edit, add, remove, save all at once. */
export function CategoriesEditor() {
  const queryClient = useQueryClient()
  const stored = useQuery({ queryKey: triageKeys.categories, queryFn: triageApi.categories })
  // the form edits a copy of what the server holds
  const [cats, setCats] = useState<Category[] | null>(null)
  useEffect(() => { if (stored.data) setCats(stored.data.categories) }, [stored.data])
  const loadError = stored.error
  const load = () => void stored.refetch()
  const [errors, setErrors] = useState<{ form: string | null; rows: Record<number, string> }>({ form: null, rows: {} })
  const [saved, setSaved] = useState(false)
  const lastInput = useRef<HTMLInputElement | null>(null)
  const put = useMutation({
    mutationFn: triageApi.putCategories,
    onSuccess: (r) => { queryClient.setQueryData(triageKeys.categories, r); setSaved(true) },
  })
  const busy = put.isPending

  const edit = (i: number, patch: Partial<Category>) => {
    setSaved(false)
    setCats((cs) => cs && cs.map((c, j) => (j === i ? { ...c, ...patch } : c)))
  }

  function save(e: FormEvent) {
    e.preventDefault()
    if (!cats) return
    const cleaned = cats.map((c) => ({ name: c.name.trim(), description: c.description.trim() }))
    const v = validateCategories(cleaned)
    setErrors(v)
    put.reset()
    setSaved(false)
    if (v.form || Object.keys(v.rows).length) return
    put.mutate(cleaned)
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
          <ErrorAlert error={put.error} />
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
