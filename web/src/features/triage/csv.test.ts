import { describe, expect, it } from 'vitest'
import { chunk, parseCsv, parseExamplesCsv, splitSkills } from './csv'

describe('parseCsv', () => {
  it('handles quotes, doubled quotes, commas and newlines inside quotes, CRLF and a BOM', () => {
    const text = '\uFEFFa,b,c\r\n"x, y","say ""hi""","line1\nline2"\r\n1,,3\n'
    expect(parseCsv(text)).toEqual([
      ['a', 'b', 'c'],
      ['x, y', 'say "hi"', 'line1\nline2'],
      ['1', '', '3'],
    ])
  })
  it('skips blank lines and keeps a last line without newline', () => {
    expect(parseCsv('a,b\n\n1,2')).toEqual([['a', 'b'], ['1', '2']])
  })
  it('keeps trailing empty fields', () => {
    expect(parseCsv('a,b,\n')).toEqual([['a', 'b', '']])
  })
  it('throws on an unterminated quote', () => {
    expect(() => parseCsv('a,"b\n')).toThrow(/quoted/)
  })
})

describe('splitSkills', () => {
  it('splits on |, trims and folds duplicates case-insensitively', () => {
    expect(splitSkills(' billing | Refunds|| billing |BILLING')).toEqual(['billing', 'Refunds'])
    expect(splitSkills('')).toEqual([])
  })
})

describe('parseExamplesCsv', () => {
  const header = 'title,description,category,priority,skills\n'
  it('turns valid rows into examples', () => {
    const r = parseExamplesCsv(header + 'Refund please,"I was charged twice, help",Billing and Payments,High,billing|refunds\n')
    expect(r.errors).toEqual([])
    expect(r.rows).toBe(1)
    expect(r.examples).toEqual([
      { title: 'Refund please', description: 'I was charged twice, help', category: 'Billing and Payments', priority: 'high', skills: ['billing', 'refunds'] },
    ])
  })
  it('accepts columns in any order and case, skills optional', () => {
    const r = parseExamplesCsv('Priority,Category,Description,Title\nlow,Other,desc,Some title\n')
    expect(r.examples).toEqual([{ title: 'Some title', description: 'desc', category: 'Other', priority: 'low', skills: [] }])
  })
  it('reports a missing column', () => {
    const r = parseExamplesCsv('title,description,category\na,b,c\n')
    expect(r.examples).toEqual([])
    expect(r.errors[0].message).toBe('Missing column: priority')
  })
  it('reports bad rows with their line number and keeps the good ones', () => {
    const r = parseExamplesCsv(header + 'ok,fine,Other,low,\n,empty title,Other,urgent,\nok2,fine,Other,medium,a\n')
    expect(r.examples.map((e) => e.title)).toEqual(['ok', 'ok2'])
    expect(r.errors).toEqual([{ line: 3, message: 'title is empty; priority must be low, medium or high (got "urgent")' }])
  })
  it('checks categories against the configured ones, matching case-insensitively', () => {
    const r = parseExamplesCsv(header + 'a b c,d,billing and payments,low,\nx y z,d,Nope,low,\n', ['Billing and Payments', 'Other'])
    expect(r.examples[0].category).toBe('Billing and Payments')
    expect(r.errors).toEqual([{ line: 3, message: 'unknown category "Nope"' }])
  })
  it('reports an empty file', () => {
    expect(parseExamplesCsv('').errors[0].message).toBe('The file is empty.')
  })
})

describe('chunk', () => {
  it('splits into chunks of at most n', () => {
    const items = Array.from({ length: 2501 }, (_, i) => i)
    const chunks = chunk(items, 1000)
    expect(chunks.map((c) => c.length)).toEqual([1000, 1000, 501])
    expect(chunks.flat()).toEqual(items)
    expect(chunk([], 1000)).toEqual([])
  })
})
