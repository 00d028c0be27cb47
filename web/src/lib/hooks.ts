import { useCallback, useEffect, useRef, useState } from 'react'
import type { Page } from '../api/types'

/** A cursor-paginated listing: first page on mount/key change, then "Load more". */
export function usePaged<T>(fetchPage: (cursor: string | null) => Promise<Page<T>>, key: string) {
  const [items, setItems] = useState<T[]>([])
  const [cursor, setCursor] = useState<string | null>(null)
  const [loading, setLoading] = useState(true)
  const [error, setError] = useState<unknown>(null)
  const [loaded, setLoaded] = useState(false)
  const generation = useRef(0)
  const fetchRef = useRef(fetchPage)
  fetchRef.current = fetchPage

  const load = useCallback(async (from: string | null, replace: boolean) => {
    const gen = ++generation.current
    setLoading(true)
    setError(null)
    try {
      const page = await fetchRef.current(from)
      if (gen !== generation.current) return
      setItems((prev) => (replace ? page.items : [...prev, ...page.items]))
      setCursor(page.next_cursor)
      setLoaded(true)
    } catch (e) {
      if (gen === generation.current) setError(e)
    } finally {
      if (gen === generation.current) setLoading(false)
    }
  }, [])

  useEffect(() => {
    setItems([])
    setCursor(null)
    setLoaded(false)
    void load(null, true)
  }, [key, load])

  return {
    items,
    setItems,
    loading,
    loaded,
    error,
    hasMore: Boolean(cursor),
    loadMore: () => { if (cursor) void load(cursor, false) },
    reload: () => void load(null, true),
  }
}

/** Runs fn every `ms` while `active`, without overlapping calls. */
export function usePolling(fn: () => Promise<unknown>, ms: number, active: boolean) {
  const ref = useRef(fn)
  ref.current = fn
  useEffect(() => {
    if (!active) return
    let stop = false
    let timer: number | undefined
    const tick = async () => {
      try { await ref.current() } catch { /* the page shows its own errors */ }
      if (!stop) timer = window.setTimeout(tick, ms)
    }
    timer = window.setTimeout(tick, ms)
    return () => { stop = true; window.clearTimeout(timer) }
  }, [ms, active])
}

export function useDocumentTitle(title: string) {
  useEffect(() => {
    document.title = title ? `${title} · Helpdesk` : 'Helpdesk'
  }, [title])
}

/**
 * A text field kept in sessionStorage, so a draft survives a reload or a session that expired
 * mid-sentence (the user signs in again and finds it). `clear()` after a successful send.
 */
export function useDraft(key: string, initial = ''): [string, (v: string) => void, () => void] {
  const storageKey = `helpdesk.draft.${key}`
  const [value, setValue] = useState<string>(() => {
    try { return sessionStorage.getItem(storageKey) ?? initial } catch { return initial }
  })
  const set = useCallback((v: string) => {
    setValue(v)
    try {
      if (v) sessionStorage.setItem(storageKey, v)
      else sessionStorage.removeItem(storageKey)
    } catch { /* storage full or unavailable: the draft just isn't kept */ }
  }, [storageKey])
  const clear = useCallback(() => set(''), [set])
  return [value, set, clear]
}
