import { useMutation, useQuery } from '@tanstack/react-query'
import type { Attachment } from '../../../api/types'
import { ticketKeys, ticketsApi } from '../api'

/** Files that came by mail; hidden when there are none. */
export function Attachments({ ticketId }: { ticketId: string }) {
  const items = useQuery({ queryKey: ticketKeys.attachments(ticketId), queryFn: () => ticketsApi.attachments(ticketId) }).data ?? []
  const download = useMutation({
    mutationFn: async (a: Attachment) => {
      const url = URL.createObjectURL(await ticketsApi.attachmentBlob(ticketId, a.id))
      const link = document.createElement('a')
      link.href = url
      link.download = a.filename
      link.click()
      URL.revokeObjectURL(url)
    },
  })
  if (items.length === 0) return null

  return (
    <section className="card" aria-labelledby="attachments-title">
      <h2 id="attachments-title">Attachments</h2>
      <ul data-testid="attachments">
        {items.map((a) => (
          <li key={a.id}>
            <button type="button" className="btn btn-secondary" onClick={() => download.mutate(a)}>{a.filename}</button>{' '}
            <span className="muted">{Math.max(1, Math.round(a.size / 1024))} KiB</span>
          </li>
        ))}
      </ul>
      {download.isError && <p role="alert">Could not download the file.</p>}
    </section>
  )
}
