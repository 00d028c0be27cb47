import { buildQuery, request } from '../../api/client'
import type { Category, Example, ModelStatus, Schemas } from '../../api/types'

export const triageApi = {
  categories: () => request<{ categories: Category[] }>('GET', '/api/triage/categories'),
  putCategories: (categories: Schemas['CategoryIn'][]) =>
    request<{ categories: Category[] }>('PUT', '/api/triage/categories', { categories } satisfies Schemas['CategoriesUpdate']),
  importExamples: (examples: Example[]) =>
    request<Schemas['Accepted']>('POST', '/api/triage/examples', { examples } satisfies Schemas['ExamplesImport']),
  retrain: () => request<Schemas['RetrainAccepted'] | undefined>('POST', '/api/triage/retrain'),
  model: () => request<ModelStatus>('GET', '/api/triage/model'),
  /** Every triage attempt of one ticket, newest first (admins). */
  decisions: (ticketId: string) =>
    request<Schemas['DecisionPage']>('GET', `/api/triage/decisions${buildQuery({ ticket_id: ticketId, limit: 20 })}`),
}

/** The cache keys of triage data. */
export const triageKeys = {
  categories: ['triage', 'categories'] as const,
  model: ['triage', 'model'] as const,
  decisions: (ticketId: string, triageState: string) => ['triage', 'decisions', ticketId, triageState] as const,
}
