// A client written against the original project's contract (tests/compat_client/index.html),
// served from ANOTHER origin than the gateway, through /compat/api with CORS: signup, login,
// create, list, open, admin list and update-user. Needs CORS_ALLOWED_ORIGINS to list COMPAT_ORIGIN
// (scripts/web.sh sets both).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { adminCredentials, BASE_URL, launch, shot, uniq, verifyByMail, waitForBackend, WEB_DIR, type Credentials } from './helpers.ts'

const ORIGIN = (process.env.COMPAT_ORIGIN ?? 'http://127.0.0.1:6173').replace(/\/$/, '')
const PAGE = readFileSync(resolve(WEB_DIR, '..', 'tests', 'compat_client', 'index.html'))
const SERVER = `${BASE_URL}/compat/api`
const id = uniq()
const user = { email: `compat-${id}@example.com`, password: 'compat-password-123' }

let browser: Browser, server: Server | undefined, page: Page, failedRequests: string[]

async function as(who: Credentials) {
  await page.fill('#email', who.email)
  await page.fill('#password', who.password)
  await page.click('#login')
  await page.locator('#who', { hasText: `signed in as ${who.email}` }).waitFor()
}

describe('the original contract from another origin', { timeout: 180_000 }, () => {
  before(async () => {
    await waitForBackend()
    const { port, hostname } = new URL(ORIGIN)
    server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(PAGE)
    })
    await new Promise<void>((ok) => server!.listen(Number(port), hostname, ok))
    browser = await launch()
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } })
    context.setDefaultTimeout(15_000)
    page = await context.newPage()
    failedRequests = []
    page.on('requestfailed', (r) => failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`))
    await page.goto(`${ORIGIN}/?server=${encodeURIComponent(SERVER)}`)
  })
  after(async () => {
    await browser?.close()
    await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()))
  })

  test('signup, login, create, list and open a ticket', async () => {
    assert.notEqual(new URL(ORIGIN).origin, new URL(BASE_URL).origin, 'the client runs on another origin')
    await page.fill('#email', user.email)
    await page.fill('#password', user.password)
    await page.click('#signup')
    await page.locator('#who', { hasText: `signed in as ${user.email} (user)` }).waitFor()
    await page.click('#logout')
    await page.locator('#who', { hasText: 'signed out' }).waitFor()
    await as(user)

    const title = `Compat client cannot print ${id}`
    await page.fill('#title', title)
    await page.fill('#description', 'Printing from the old client fails with a blank page.')
    await page.click('#create')
    await page.locator('#created', { hasText: 'Ticket created and processing started' }).waitFor()
    const link = page.locator('#tickets a', { hasText: title })
    await link.waitFor()
    assert.equal(await page.locator('#tickets a').count(), 1, 'a new user lists only their own ticket')
    await link.click()
    await page.locator('#detail', { hasText: `Title: ${title}` }).waitFor()
    await page.locator('#detail', { hasText: 'Status: TODO' }).waitFor()
    await shot(page, '20-compat-client-ticket')
    assert.deepEqual(failedRequests, [])
  })

  test('admin lists users and update-user keeps skills when none are sent', async () => {
    // only a verified account may be promoted: its owner follows the mailed link first
    await verifyByMail(user.email)
    await as(adminCredentials())
    await page.click('#users')
    const row = page.locator(`#userlist li[data-email="${user.email}"]`)
    await row.waitFor()
    assert.match((await row.textContent()) ?? '', /\| user \| N\/A$/)

    await page.fill('#edit-email', user.email)
    await page.selectOption('#edit-role', 'moderator')
    await page.fill('#edit-skills', `compat-skill-${id}, legacy-printing`)
    await page.click('#save')
    await page.locator('#saved', { hasText: 'User updated successfully' }).waitFor()
    await page.click('#users')
    await page.locator(`#userlist li[data-email="${user.email}"]`, { hasText: `moderator | compat-skill-${id}, legacy-printing` }).waitFor()

    // empty skills: the original keeps them; the role goes back to user so later journeys are unaffected
    await page.evaluate(() => { document.getElementById('saved')!.textContent = '' })
    await page.selectOption('#edit-role', 'user')
    await page.fill('#edit-skills', '')
    await page.click('#save')
    await page.locator('#saved', { hasText: 'User updated successfully' }).waitFor()
    await page.click('#users')
    await page.locator(`#userlist li[data-email="${user.email}"]`, { hasText: `user | compat-skill-${id}, legacy-printing` }).waitFor()
    await shot(page, '21-compat-client-admin')

    // a user may not use the admin routes: the original's error shape, no data (401 when the
    // demotion a moment ago still outdates the new token's second)
    await as(user)
    await page.click('#users')
    await page.locator('#error', { hasText: /^40[13]: / }).waitFor()
    assert.deepEqual(failedRequests, [])
  })
})
