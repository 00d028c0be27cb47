import { useCallback, useEffect, useRef, useState } from 'react'

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
