// End-to-end journeys through the real gateway (BASE_URL) in Debian's Chromium.
// Order matters: the admin promotes a fresh moderator (journey 3), a requester files a billing
// ticket that triage routes to them (journeys 1 and 3), and that moderator resolves it (journey 2).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Browser, Page } from 'playwright-core'
import { adminCredentials, followVerificationLink, launch, retireEarlierModerators, newPage, shot, signIn, signUp, TRIAGE_TIMEOUT_MS, uniq, waitForBackend, type TestPage } from './helpers.ts'

const id = uniq()
const PASSWORD = 'correct-horse-battery'
const moderator = { name: `Mona Billing ${id}`, email: `e2e-mod-${id}@example.com`, password: PASSWORD }
const requester = { name: `Rita Requester ${id}`, email: `e2e-req-${id}@example.com`, password: PASSWORD }
const TICKET_TITLE = `Refund for a double charge on my invoice ${id}`
const TICKET_BODY = 'I was billed twice for my March invoice and the payment shows two charges on my card. Please refund the duplicate charge.'

let browser: Browser, admin: TestPage, mod: TestPage, req: TestPage, ticketId: string

describe('helpdesk journeys', { timeout: 300_000 }, () => {
  before(async () => {
    await waitForBackend()
    await retireEarlierModerators(adminCredentials())
    browser = await launch()
    admin = await newPage(browser)
    mod = await newPage(browser)
    req = await newPage(browser)
  })
  after(async () => {
    for (const p of [admin, mod, req]) assert.deepEqual(p?.consoleErrors ?? [], [], 'uncaught errors in the page')
    await browser?.close()
  })

  test('journey 3a: an admin promotes a new user to moderator with billing skills', async () => {
    await signUp(mod, moderator)
    await mod.getByRole('heading', { name: 'My tickets' }).waitFor()
    await mod.getByText('No tickets yet').waitFor()
    // a new account is unverified: "check your mail" until the link in it is followed
    await mod.getByTestId('verify-notice').waitFor()
    await shot(mod, '02-requester-empty-list')
    await followVerificationLink(mod, moderator.email)
    await mod.goto('/tickets')
    await mod.getByText('No tickets yet').waitFor()
    assert.equal(await mod.getByTestId('verify-notice').count(), 0, 'no notice once verified')

    await admin.goto('/signin')
    await shot(admin, '00-signin')
    await signIn(admin, adminCredentials())
    await admin.getByRole('heading', { name: 'Dashboard' }).waitFor()
    await admin.waitForURL('**/admin/dashboard')
    await admin.getByRole('link', { name: 'Users' }).click()
    await admin.getByRole('searchbox', { name: 'Search' }).fill(moderator.email)
    await admin.getByRole('button', { name: 'Search' }).click()
    const row = admin.locator(`tr[data-user-email="${moderator.email}"]`)
    await row.waitFor()
    assert.equal(await admin.locator('tr[data-user-email]').count(), 1, 'the search returns exactly the new user')
    await row.getByLabel(`Role of ${moderator.email}`).selectOption('moderator')
    await row.getByLabel(`Skills of ${moderator.email} (comma-separated)`).fill('billing, payments, refunds, invoices')
    await row.getByRole('button', { name: 'Save' }).click()
    await row.getByText('Saved.').waitFor()
    await shot(admin, '04-admin-users')

    // The new role is in the next token: the app notices it (GET /api/auth/me) and offers to sign in
    // again; one wrong password first, to see the API's 401 problem shown.
    await mod.reload()
    await mod.getByText('Your role is now').waitFor()
    await mod.getByRole('button', { name: 'Sign in again' }).click()
    await mod.getByText('Sign in again to use your new role.').waitFor()
    await mod.getByLabel('Email').fill(moderator.email)
    await mod.getByLabel('Password').fill('not-the-password')
    await mod.getByRole('button', { name: 'Sign in' }).click()
    await mod.getByRole('alert').waitFor()
    assert.match(await mod.getByRole('alert').innerText(), /\S/, 'the 401 problem is shown')
    await signIn(mod, moderator)
    await mod.waitForURL('**/queue')
    await mod.getByRole('heading', { name: 'My queue' }).waitFor()
  })

  test('journey 1: a requester signs up, files a ticket and sees it triaged without reloading', async () => {
    await req.goto('/signup')
    await req.getByRole('button', { name: 'Create account' }).click()
    await req.getByText('Enter your email address.').waitFor() // validated before sending
    await shot(req, '01-signup-validation')
    await signUp(req, { ...requester, email: moderator.email.toUpperCase() }) // taken (emails are case-folded)
    await req.getByRole('alert').getByText('Conflict').waitFor()
    await shot(req, '01b-signup-conflict')
    await signUp(req, requester)
    await req.getByRole('heading', { name: 'My tickets' }).waitFor()

    await req.getByRole('link', { name: 'New ticket' }).first().click()
    await req.getByRole('button', { name: 'Submit ticket' }).click()
    await req.getByText('Write a title of at least 3 characters.').waitFor()
    await req.getByLabel('Title').fill(TICKET_TITLE)
    await req.getByLabel('Description').fill(TICKET_BODY)
    await shot(req, '05-new-ticket')
    await req.getByRole('button', { name: 'Submit ticket' }).click()
    await req.waitForURL(/\/tickets\/[0-9a-f-]{36}$/)
    ticketId = req.url().split('/').pop() ?? ''
    await req.getByTestId('ticket-title').getByText(TICKET_TITLE).waitFor()

    // The page polls while triage is pending; no reload here.
    await req.locator('h1 ~ .chips [data-triage-state="done"]').waitFor({ timeout: TRIAGE_TIMEOUT_MS })
    const priority = (await req.getByTestId('ticket-priority').innerText()).trim()
    assert.match(priority, /^(Low|Medium|High)$/, `a priority is shown after triage, got "${priority}"`)
    assert.equal(await req.getByTestId('helpful-notes').count(), 0, 'a requester never sees the AI notes')
    await shot(req, '06-ticket-triaged-requester')

    await req.getByRole('link', { name: 'My tickets' }).click()
    const listed = req.locator(`tr[data-ticket-id="${ticketId}"]`)
    await listed.waitFor()
    assert.match(await listed.innerText(), /Open/)
    await shot(req, '07-my-tickets')
  })

  test('journey 3b: the billing ticket goes to the new moderator', async () => {
    assert.ok(ticketId, 'journey 1 created a ticket')
    await admin.goto(`/tickets/${ticketId}`)
    await admin.getByTestId('assignment-reason').waitFor()
    const assignee = await admin.getByTestId('ticket-assignee').innerText()
    const reason = await admin.getByTestId('assignment-reason').innerText()
    assert.equal(assignee.trim(), moderator.name, `assigned to "${assignee}" instead; reason: ${reason}`)
    await admin.getByText('Decision log').click()
    await admin.locator('details[open] table tbody tr').first().waitFor()
    await shot(admin, '08-ticket-admin-view')
  })

  test('journey 2: the moderator sees it in their queue, comments and resolves it', async () => {
    await mod.goto('/queue')
    const row = mod.locator(`tr[data-ticket-id="${ticketId}"]`)
    await row.waitFor()
    await mod.getByLabel('Status').selectOption('open')
    await row.waitFor()
    await shot(mod, '09-moderator-queue')
    await row.getByRole('link').click()

    await mod.getByTestId('helpful-notes').waitFor()
    assert.ok((await mod.getByTestId('assignment-reason').innerText()).trim().length > 0, 'the assignment reason is shown')
    await mod.getByTestId('confidence').waitFor()

    await mod.getByLabel('Internal (staff only)').check()
    await mod.getByRole('textbox', { name: 'Internal note' }).fill('Duplicate charge confirmed in the payment log.')
    await mod.getByRole('button', { name: 'Add internal note' }).click()
    await mod.getByText('Duplicate charge confirmed in the payment log.').waitFor()
    await mod.getByRole('textbox', { name: 'Add a comment' }).fill('We have refunded the duplicate charge; it shows in 3-5 days.')
    await mod.getByRole('button', { name: 'Send reply' }).click()
    await mod.getByText('We have refunded the duplicate charge').waitFor()

    // A human correction of the priority (kept by triage as a labelled example).
    const current = (await mod.getByTestId('ticket-priority').innerText()).trim().toLowerCase()
    const corrected = current === 'high' ? 'medium' : 'high'
    await mod.getByLabel('Priority', { exact: true }).selectOption(corrected)
    await mod.getByRole('button', { name: 'Save correction' }).click()
    await mod.getByText('Correction saved.').waitFor()
    assert.equal((await mod.getByTestId('ticket-priority').innerText()).trim().toLowerCase(), corrected)

    await mod.getByRole('button', { name: 'Start work' }).click()
    await mod.getByTestId('ticket-status').getByText('In progress').waitFor()
    await mod.getByRole('button', { name: 'Mark resolved' }).click()
    await mod.getByTestId('ticket-status').getByText('Resolved').waitFor()
    await shot(mod, '10-moderator-ticket-resolved')

    await req.goto(`/tickets/${ticketId}`)
    await req.getByTestId('ticket-status').getByText('Resolved').waitFor()
    await req.getByText('We have refunded the duplicate charge').waitFor()
    assert.equal(await req.getByText('Duplicate charge confirmed in the payment log.').count(), 0, 'internal notes stay internal')
    await shot(req, '11-requester-sees-resolution')
    await req.getByRole('button', { name: 'Close ticket' }).click()
    await req.getByTestId('ticket-status').getByText('Closed').waitFor()
  })

  test('admin pages: all tickets, triage settings, dashboard and preferences', async () => {
    await admin.goto('/admin/tickets')
    await admin.locator(`tr[data-ticket-id="${ticketId}"]`).waitFor()
    await shot(admin, '12-admin-all-tickets')
    await admin.goto('/admin/triage')
    await admin.getByLabel('Category 1 name').waitFor()
    await admin.getByTestId('model-status').waitFor()
    const category = await admin.getByLabel('Category 1 name').inputValue()
    const csv = [
      'title,description,category,priority,skills',
      `"Charged twice for invoice ${id}","My card was charged twice, please refund one.",${JSON.stringify(category)},high,billing|refunds`,
      `Cannot download receipt ${id},"The receipt link for my last payment gives an error.",${JSON.stringify(category)},low,billing`,
      `Bad row ${id},no priority here,${JSON.stringify(category)},urgent,`,
    ].join('\n')
    await admin.getByLabel('CSV file').setInputFiles({ name: 'examples.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) })
    await admin.getByText('valid examples of 3 rows').waitFor()
    await admin.getByText('Line 4: priority must be low, medium or high').waitFor()
    await admin.getByRole('button', { name: 'Upload 2 examples' }).click()
    await admin.getByText('examples accepted').waitFor()
    await admin.getByRole('button', { name: 'Save categories' }).click()
    await admin.getByText('Categories saved.').waitFor()
    await admin.getByRole('button', { name: 'Retrain now' }).click()
    await admin.getByText(/Training…|Retraining finished/).waitFor()
    await shot(admin, '13-admin-triage')
    await admin.goto('/admin/dashboard')
    await admin.getByTestId('dashboard-stats').waitFor()
    await shot(admin, '03-admin-dashboard')
    await req.goto('/settings/notifications')
    await req.getByLabel('Ticket resolved').uncheck()
    await req.getByRole('button', { name: 'Save preferences' }).click()
    await req.getByText('Preferences saved.').waitFor()
    await req.reload()
    await req.getByLabel('Ticket resolved').waitFor()
    assert.equal(await req.getByLabel('Ticket resolved').isChecked(), false, 'the preference survives a reload')
    await shot(req, '14-preferences')
  })

  test('phone width: lists and the ticket page fit 375 px', async () => {
    const phone = await newPage(browser, { width: 375, height: 800 })
    await signIn(phone, requester)
    await phone.goto('/tickets')
    await phone.locator(`tr[data-ticket-id="${ticketId}"]`).waitFor()
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    assert.ok(overflow <= 0, `no horizontal scrolling at 375 px (overflow ${overflow}px)`)
    await shot(phone, '15-phone-my-tickets')
    await phone.goto(`/tickets/${ticketId}`)
    await phone.getByTestId('ticket-title').waitFor()
    await shot(phone, '16-phone-ticket')
    await phone.getByRole('button', { name: 'Menu' }).click()
    await phone.getByRole('link', { name: 'New ticket' }).waitFor()
    await phone.context().close()

    const adminPhone = await newPage(browser, { width: 375, height: 800 })
    await signIn(adminPhone, adminCredentials())
    for (const path of ['/admin/dashboard', '/admin/tickets', '/admin/users', '/admin/triage', '/queue', `/tickets/${ticketId}`, '/settings/notifications']) {
      await adminPhone.goto(path)
      await adminPhone.locator('main h1').first().waitFor()
      await adminPhone.waitForLoadState('networkidle')
      const over = await adminPhone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
      assert.ok(over <= 0, `no horizontal scrolling at 375 px on ${path} (overflow ${over}px)`)
    }
    await shot(adminPhone, '16b-phone-admin-preferences')
    await adminPhone.goto('/admin/dashboard')
    await adminPhone.getByTestId('dashboard-stats').waitFor()
    await shot(adminPhone, '16c-phone-admin-dashboard')
    await adminPhone.context().close()
  })

  test('accessibility: every control has a name, and signing in works from the keyboard alone', async () => {
    const unnamed = async (page: Page) => page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
      .filter((el) => {
        const id = el.getAttribute('id')
        const label = id ? document.querySelector(`label[for="${CSS.escape(id)}"]`) : null
        const text = (el.getAttribute('aria-label') || el.closest('label')?.textContent || label?.textContent || (el.tagName === 'BUTTON' || el.tagName === 'A' ? el.textContent : '') || '').trim()
        return !text && (el as HTMLInputElement).type !== 'hidden'
      })
      .map((el) => el.outerHTML.slice(0, 120)))
    const visits: [Page, string[]][] = [
      [admin, ['/admin/dashboard', '/admin/tickets', '/admin/users', '/admin/triage', `/tickets/${ticketId}`]],
      [mod, ['/queue', '/settings/notifications']],
      [req, ['/tickets', '/tickets/new']],
    ]
    for (const [page, paths] of visits) {
      for (const path of paths) {
        await page.goto(path)
        await page.locator('main h1').first().waitFor()
        await page.waitForLoadState('networkidle')
        assert.deepEqual(await unnamed(page), [], `controls without an accessible name on ${path}`)
      }
    }
    const k = await newPage(browser)
    await k.goto('/signin')
    // the email field takes focus on arrival, once the app has rendered: wait for that, not a race
    await k.waitForFunction(() => document.activeElement instanceof HTMLInputElement, null, { timeout: 5000 })
    await k.keyboard.type(requester.email)
    await k.keyboard.press('Tab')
    await k.keyboard.type(requester.password)
    await k.keyboard.press('Enter')
    await k.waitForURL('**/tickets')
    // After navigation the focus is on the new content, so the next Tab reaches its first control.
    await k.waitForFunction(() => document.activeElement?.id === 'main', null, { timeout: 5000 })
    await k.keyboard.press('Tab')
    // this requester has not verified its address: the "check your mail" notice comes first
    assert.equal(await k.evaluate(() => document.activeElement?.textContent), 'Send the link again')
    await k.keyboard.press('Tab')
    assert.equal(await k.evaluate(() => document.activeElement?.textContent), 'New ticket')
    await k.context().close()
  })

  test('session: a reload keeps it; a rejected or expired token ends it with a message', async () => {
    const p = await newPage(browser)
    await signIn(p, requester)
    await p.reload()
    await p.getByRole('button', { name: 'Sign out' }).waitFor()
    // A token with a future exp but a bad signature: the API answers 401 and the app signs out.
    await p.evaluate(() => {
      const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
      const now = Math.floor(Date.now() / 1000)
      localStorage.setItem('helpdesk.token', `${b64({ alg: 'EdDSA', typ: 'JWT' })}.${b64({ sub: '00000000-0000-0000-0000-000000000000', role: 'user', exp: now + 600, iat: now })}.AAAA`)
    })
    await p.goto('/tickets')
    await p.getByText('Your session has expired. Please sign in again.').waitFor()
    await p.getByRole('heading', { name: 'Sign in' }).waitFor()
    await shot(p, '17-session-expired')
    // An expired exp is caught in the browser before any request.
    await p.evaluate(() => {
      const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
      localStorage.setItem('helpdesk.token', `${b64({ alg: 'EdDSA' })}.${b64({ sub: 'x', role: 'user', exp: 1000 })}.AAAA`)
    })
    await p.goto('/queue')
    await p.getByText('Your session has expired. Please sign in again.').waitFor()
    assert.equal(await p.evaluate(() => localStorage.getItem('helpdesk.token')), null, 'the dead token is removed')
    await p.context().close()
  })
})
