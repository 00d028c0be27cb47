import { describe, expect, it } from 'vitest'
import { nextStatuses, requesterMoves } from './workflow'

describe('ticket workflow', () => {
  it('offers staff only the allowed moves', () => {
    expect(nextStatuses('open')).toEqual(['in_progress', 'closed'])
    expect(nextStatuses('in_progress')).toEqual(['resolved', 'closed'])
    expect(nextStatuses('resolved')).toEqual(['closed', 'open'])
    expect(nextStatuses('closed')).toEqual([])
  })
  it('lets requesters close, and reopen only resolved tickets', () => {
    expect(requesterMoves('open')).toEqual(['closed'])
    expect(requesterMoves('in_progress')).toEqual(['closed'])
    expect(requesterMoves('resolved')).toEqual(['open', 'closed'])
    expect(requesterMoves('closed')).toEqual([])
  })
})
