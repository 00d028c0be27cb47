import { buildQuery, fetchAll, request, requestBlob } from '../../api/client'
import type { Attachment, Comment, Page, Schemas, Ticket, TicketFilters, TicketUpdate } from '../../api/types'

const ticketPath = (id: string) => `/api/tickets/${encodeURIComponent(id)}`

export const ticketsApi = {
  tickets: (filters: TicketFilters & { cursor?: string | null; limit?: number }): Promise<Page<Ticket>> =>
    request<Schemas['TicketPage']>('GET', `/api/tickets${buildQuery({ limit: 50, ...filters })}`),
  ticket: (id: string): Promise<Ticket> => request<Schemas['TicketStaffRead'] | Schemas['TicketRead']>('GET', ticketPath(id)),
  /** `idempotencyKey`: the same for every retry of one ticket, so a retry after a lost answer
   * returns the ticket the first attempt made instead of opening a second. */
  createTicket: (body: Schemas['TicketCreate'], idempotencyKey?: string): Promise<Ticket> =>
    request<Schemas['TicketRead']>('POST', '/api/tickets', body, idempotencyKey ? { headers: { 'Idempotency-Key': idempotencyKey } } : {}),
  updateTicket: (id: string, body: TicketUpdate): Promise<Ticket> =>
    request<Schemas['TicketStaffRead'] | Schemas['TicketRead']>('PATCH', ticketPath(id), body),
  comments: async (id: string): Promise<Comment[]> => {
    const { items } = await fetchAll<Comment>(async (cursor) => {
      const res = await request<Comment[] | Schemas['CommentPage']>('GET', `${ticketPath(id)}/comments${buildQuery({ limit: 100, cursor })}`)
      return Array.isArray(res) ? { items: res, next_cursor: null } : { items: res?.items ?? [], next_cursor: res?.next_cursor ?? null }
    }, 2000)
    return items
  },
  addComment: (id: string, body: Schemas['CommentCreate']) => request<Comment>('POST', `${ticketPath(id)}/comments`, body),
  attachments: async (id: string): Promise<Attachment[]> =>
    (await request<Schemas['AttachmentList']>('GET', `${ticketPath(id)}/attachments`)).items,
  /** The bytes of one attachment (the route needs the token, so no plain link). */
  attachmentBlob: (ticketId: string, attachmentId: string): Promise<Blob> =>
    requestBlob(`${ticketPath(ticketId)}/attachments/${encodeURIComponent(attachmentId)}`),
  retriage: (id: string) => request<unknown>('POST', `${ticketPath(id)}/retriage`),
}

/** The cache keys of ticket data: one place, so a write can update what the pages show. */
export const ticketKeys = {
  list: (query: TicketFilters) => ['tickets', 'list', query] as const,
  one: (id: string) => ['tickets', 'one', id] as const,
  comments: (id: string) => ['tickets', 'one', id, 'comments'] as const,
  attachments: (id: string) => ['tickets', 'one', id, 'attachments'] as const,
  /** Categories seen on the caller's own tickets (moderators may not read the configured ones). */
  categorySuggestions: ['tickets', 'category-suggestions'] as const,
}
