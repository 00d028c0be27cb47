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
