import { describe, expect, it } from 'vitest'
import { ApiError, errorMessage, parseProblem, parseRetryAfter } from './errors'

describe('parseProblem', () => {
  it('reads an RFC 9457 body with validation errors', () => {
    const body = JSON.stringify({
      type: 'about:blank',
      title: 'Validation failed',
      status: 422,
      detail: 'The request body is invalid.',
      errors: [
        { loc: ['body', 'title'], msg: 'String should have at least 3 characters' },
        { loc: ['body', 'description'], msg: 'Field required' },
      ],
    })
    const e = parseProblem(422, body)
    expect(e).toBeInstanceOf(ApiError)
    expect(e.status).toBe(422)
    expect(e.title).toBe('Validation failed')
    expect(e.detail).toBe('The request body is invalid.')
    expect(e.fieldErrors()).toEqual({
      title: 'String should have at least 3 characters',
      description: 'Field required',
    })
    expect(e.summary()).toBe('Validation failed: The request body is invalid.')
  })

  it('keeps the first message per field and puts loc-less errors under _', () => {
    const e = parseProblem(422, JSON.stringify({ title: 'Bad', errors: [
      { loc: ['body', 'skills', 3], msg: 'too long' },
      { loc: ['body', 'skills', 4], msg: 'also too long' },
      { loc: [], msg: 'whole body wrong' },
    ] }))
    expect(e.fieldErrors()).toEqual({ skills: 'too long', _: 'whole body wrong' })
  })

  it('accepts FastAPI default {detail: [...]} bodies', () => {
    const e = parseProblem(422, JSON.stringify({ detail: [{ loc: ['body', 'email'], msg: 'value is not a valid email address', type: 'x' }] }))
    expect(e.title).toBe('Invalid input')
    expect(e.fieldErrors().email).toBe('value is not a valid email address')
    expect(e.detail).toBe('value is not a valid email address')
  })

  it('falls back to a title by status for empty or non-JSON bodies', () => {
    expect(parseProblem(503, '').title).toBe('Service unavailable')
    expect(parseProblem(502, '<html>Bad gateway</html>').title).toBe('Service unavailable')
    expect(parseProblem(418, '').title).toBe('Request failed (418)')
    expect(parseProblem(409, JSON.stringify({ title: 'Conflict', detail: 'Email already registered' })).summary())
      .toBe('Conflict: Email already registered')
  })

  it('adds Retry-After to 429 summaries', () => {
    const e = parseProblem(429, JSON.stringify({ title: 'Too many login attempts', status: 429 }), '120')
    expect(e.retryAfter).toBe(120)
    expect(e.summary()).toBe('Too many login attempts Try again in 120 s.')
  })

  it('does not repeat a detail equal to the title', () => {
    expect(parseProblem(404, JSON.stringify({ title: 'Not Found', detail: 'Not Found' })).summary()).toBe('Not Found')
  })
})

describe('parseRetryAfter', () => {
  it('parses seconds and HTTP dates', () => {
    expect(parseRetryAfter('30')).toBe(30)
    expect(parseRetryAfter(null)).toBeNull()
    expect(parseRetryAfter('garbage')).toBeNull()
    const inOneMinute = new Date(Date.now() + 60_000).toUTCString()
    const n = parseRetryAfter(inOneMinute)!
    expect(n).toBeGreaterThan(55)
    expect(n).toBeLessThanOrEqual(61)
  })
})

describe('errorMessage', () => {
  it('handles ApiError, Error and anything else', () => {
    expect(errorMessage(new ApiError({ status: 403, title: 'Forbidden' }))).toBe('Forbidden')
    expect(errorMessage(new Error('boom'))).toBe('boom')
    expect(errorMessage(42)).toBe('Something went wrong.')
  })
})
