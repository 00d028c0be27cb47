import { describe, expect, it } from 'vitest'
import { parseSkills, validateCategories, validateComment, validateSignIn, validateSignUp, validateSkills, validateTicket } from './validation'

describe('sign-in and sign-up', () => {
  it('requires a valid email and a password', () => {
    expect(validateSignIn({ email: '', password: '' })).toEqual({ email: 'Enter your email address.', password: 'Enter your password.' })
    expect(validateSignIn({ email: 'nope', password: 'x' }).email).toMatch(/valid email/)
    expect(validateSignIn({ email: 'a@b.co', password: 'x' })).toEqual({})
  })
  it('checks password length and confirmation', () => {
    expect(validateSignUp({ email: 'a@b.co', password: 'elevenchars', confirm: 'elevenchars', name: '' }).password).toMatch(/12/)
    expect(validateSignUp({ email: 'a@b.co', password: 'x'.repeat(129), confirm: 'x'.repeat(129), name: '' }).password).toMatch(/128/)
    expect(validateSignUp({ email: 'a@b.co', password: 'long enough phrase', confirm: 'different', name: '' }).confirm).toBeDefined()
    expect(validateSignUp({ email: 'a@b.co', password: 'long enough phrase', confirm: 'long enough phrase', name: 'Ann' })).toEqual({})
  })
})

describe('tickets and comments', () => {
  it('bounds title and description', () => {
    expect(validateTicket({ title: 'ab', description: 'x' }).title).toBeDefined()
    expect(validateTicket({ title: '  abc  ', description: '   ' }).description).toBeDefined()
    expect(validateTicket({ title: 'x'.repeat(201), description: 'x' }).title).toBeDefined()
    expect(validateTicket({ title: 'abc', description: 'x'.repeat(10001) }).description).toBeDefined()
    expect(validateTicket({ title: 'abc', description: 'x' })).toEqual({})
  })
  it('refuses empty comments', () => {
    expect(validateComment('  ')).not.toBeNull()
    expect(validateComment('ok')).toBeNull()
  })
})

describe('skills', () => {
  it('splits on commas, trims and folds duplicates', () => {
    expect(parseSkills('billing, Refunds ,,BILLING')).toEqual(['billing', 'Refunds'])
  })
  it('limits count and length', () => {
    expect(validateSkills(Array.from({ length: 51 }, (_, i) => `s${i}`))).toMatch(/50/)
    expect(validateSkills(['x'.repeat(65)])).toMatch(/64/)
    expect(validateSkills(['billing'])).toBeNull()
  })
})

describe('categories', () => {
  it('needs 2..100 unique, non-empty names', () => {
    expect(validateCategories([{ name: 'A', description: '' }]).form).toMatch(/2/)
    const r = validateCategories([{ name: 'A', description: '' }, { name: ' a ', description: '' }, { name: '', description: '' }])
    expect(r.form).toBeNull()
    expect(r.rows).toEqual({ 1: 'Same name as row 1.', 2: 'Give the category a name.' })
    expect(validateCategories([{ name: 'A', description: '' }, { name: 'B', description: 'b' }])).toEqual({ form: null, rows: {} })
  })
})
