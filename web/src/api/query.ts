/**
 * The one data-fetching layer: TanStack Query. Pages read with `useQuery` (or `usePagedQuery` for
 * cursor listings) and write with `useMutation`; loading, error and busy states come from there,
 * never from hand-written `busy` flags and try/finally.
 */
import { QueryClient, useInfiniteQuery, useQueryClient, type InfiniteData, type QueryKey } from '@tanstack/react-query'
import { useMemo } from 'react'
import type { Page } from './types'

export const queryClient = new QueryClient({
  defaultOptions: {
    // a failed request shows its problem at once (with "Try again"), as it always did here;
    // pages poll what changes on the server themselves (refetchInterval)
    queries: { retry: false, refetchOnWindowFocus: false },
    mutations: { retry: false },
  },
})

/** A cursor-paginated listing: the first page when the key changes, then `loadMore`. */
export function usePagedQuery<T>(queryKey: QueryKey, fetchPage: (cursor: string | null) => Promise<Page<T>>) {
  const client = useQueryClient()
  const query = useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam }) => fetchPage(pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  })
  const items = useMemo(() => query.data?.pages.flatMap((p) => p.items) ?? [], [query.data])
  return {
    items,
    loading: query.isFetching,
    loaded: query.data !== undefined,
    error: query.error,
    hasMore: query.hasNextPage,
    loadMore: () => { if (query.hasNextPage && !query.isFetching) void query.fetchNextPage() },
    /** From the first page again (what "Try again" does). */
    reload: () => void client.resetQueries({ queryKey, exact: true }),
    /** Replace loaded items in place (a saved row, a ticket whose triage finished). */
    updateItems: (update: (item: T) => T) =>
      client.setQueryData<InfiniteData<Page<T>, string | null>>(queryKey, (data) =>
        data && { ...data, pages: data.pages.map((p) => ({ ...p, items: p.items.map(update) })) }),
  }
}
