import { describe, expect, it } from 'vitest'
import { sizeSteps } from './sizes'

describe('sizeSteps', () => {
  it('draws a step line from the first point to now, largest size at the top', () => {
    const t0 = Date.parse('2026-12-01T09:00:00Z')
    const history = [
      { at: '2026-12-01T09:00:00Z', size: 1 },
      { at: '2026-12-01T09:00:30Z', size: 2 },
      { at: '2026-12-01T09:01:00Z', size: 4 },
    ]
    const line = sizeSteps(history, t0 + 120_000, 120, 40)
    expect(line.split(' ')).toEqual(['0.0,30.0', '30.0,30.0', '30.0,20.0', '60.0,20.0', '60.0,0.0', '120.0,0.0'])
  })

  it('is empty without history', () => {
    expect(sizeSteps([], Date.now(), 100, 20)).toBe('')
  })
})
