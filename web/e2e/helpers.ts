// Shared setup for the end-to-end journeys: Debian's Chromium driven by playwright-core.
import { chromium, type Browser, type Page } from 'playwright-core'
import { mkdirSync, readFileSync, readdirSync, existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

// web/: the nearest folder with a package.json (these files run compiled, from web/dist-e2e)
function webDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir)
  return dir
}
export const WEB_DIR = webDir()
export const BASE_URL = (process.env.BASE_URL ?? 'http://127.0.0.1:8000').replace(/\/$/, '')
export const SCREENSHOT_DIR = resolve(WEB_DIR, process.env.SCREENSHOT_DIR ?? '../var/screenshots')
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// where the stack's SMTP sink stores mails (scripts/web.sh sets it; `make up` uses var/mail)
export const MAIL_DIR = resolve(WEB_DIR, process.env.MAIL_DIR ?? '../var/mail')
export const TRIAGE_TIMEOUT_MS = Number(process.env.TRIAGE_TIMEOUT_MS ?? 90_000)

export interface Credentials {
  email: string
  password: string
}
export interface Person extends Credentials {
  name: string
}
/** A page that collects the errors thrown in it (every journey ends by asserting there were none). */
export type TestPage = Page & { consoleErrors: string[] }

/** Admin credentials from ADMIN_EMAIL/ADMIN_PASSWORD, else from the repo's .env (written by `make up`). */
export function adminCredentials(): Credentials {
  let email = process.env.ADMIN_EMAIL
  let password = process.env.ADMIN_PASSWORD
  const envFile = join(WEB_DIR, '..', '.env')
  if ((!email || !password) && existsSync(envFile)) {
    for (const line of readFileSync(envFile, 'utf8').split('\n')) {
      const m = line.match(/^\s*(BOOTSTRAP_ADMIN_EMAIL|BOOTSTRAP_ADMIN_PASSWORD)\s*=\s*(.*)\s*$/)
      if (!m) continue
      const v = m[2].replace(/^(['"])(.*)\1$/, '$2')
      if (m[1] === 'BOOTSTRAP_ADMIN_EMAIL') email ??= v
      else password ??= v
    }
  }
  if (!email || !password) throw new Error('Set ADMIN_EMAIL and ADMIN_PASSWORD (or BOOTSTRAP_ADMIN_* in ../.env).')
  return { email, password }
}

export async function waitForBackend(timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < until) {
    try {
      const r = await fetch(`${BASE_URL}/readyz`)
      if (r.ok) return
      last = `readyz answered ${r.status}`
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } }
      last = String(err.cause?.code ?? err.message)
    }
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error(`The gateway at ${BASE_URL} is not ready (${last}). Start it with \`make up\`.`)
}

export async function launch(): Promise<Browser> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true })
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  })
}

/** A fresh browser context (its own localStorage) with a page; console errors are collected. */
export async function newPage(browser: Browser, viewport = { width: 1280, height: 860 }): Promise<TestPage> {
  const context = await browser.newContext({ baseURL: BASE_URL, viewport })
  context.setDefaultTimeout(15_000)
  const page = Object.assign(await context.newPage(), { consoleErrors: [] as string[] })
  page.on('pageerror', (e) => page.consoleErrors.push(String(e)))
  return page
}

export async function shot(page: Page, name: string) {
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true })
}

export const uniq = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`

export async function signUp(page: Page, { name, email, password }: Person) {
  await page.goto('/signup')
  await page.getByLabel('Name').fill(name)
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password', { exact: true }).fill(password)
  await page.getByLabel('Confirm password').fill(password)
  await page.getByRole('button', { name: 'Create account' }).click()
}

export async function signIn(page: Page, { email, password }: Credentials) {
  await page.goto('/signin')
  await page.getByLabel('Email').fill(email)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL((url) => !url.pathname.startsWith('/signin'))
  await page.locator('#main').waitFor()
}

export async function signOut(page: Page) {
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.getByRole('heading', { name: 'Sign in' }).waitFor()
}

// the answers of the few routes used here are read field by field
async function apiCall(method: string, path: string, token: string | null, body?: unknown): Promise<any> {
  const r = await fetch(`${BASE_URL}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await r.text()
  if (!r.ok) throw new Error(`${method} ${path} -> ${r.status} ${text}`)
  return text ? JSON.parse(text) : null
}

/**
 * Moderators left by earlier runs have the same skills and no load, so triage could pick them
 * instead of this run's one: turn them back into plain users first.
 */
export async function retireEarlierModerators(admin: Credentials): Promise<number> {
  const { token } = await apiCall('POST', '/api/auth/login', null, admin)
  let cursor: string | null = null
  const emails: string[] = []
  do {
    const q = new URLSearchParams({ q: 'e2e-mod-', role: 'moderator', limit: '100', ...(cursor ? { cursor } : {}) })
    const page = await apiCall('GET', `/api/auth/users?${q}`, token)
    const users: { email: string }[] = page.items
    emails.push(...users.filter((u) => u.email.startsWith('e2e-mod-')).map((u) => u.email))
    cursor = page.next_cursor
  } while (cursor)
  for (const email of emails) await apiCall('POST', '/api/auth/update-user', token, { email, role: 'user', skills: [] })
  return emails.length
}


/** Quoted-printable text as written by the notifier (soft line breaks, =XX bytes; UTF-8). */
function decodeQuotedPrintable(text: string): string {
  const joined = text.replace(/=\r?\n/g, '')
  const bytes: number[] = []
  for (let i = 0; i < joined.length; i++) {
    const hex = joined.slice(i + 1, i + 3)
    if (joined[i] === '=' && /^[0-9A-F]{2}$/i.test(hex)) { bytes.push(parseInt(hex, 16)); i += 2 }
    else bytes.push(...Buffer.from(joined[i], 'utf8'))
  }
  return Buffer.from(bytes).toString('utf8')
}

/** The path (`/verify?token=…`) of the newest verification mail the notifier sent to `email`. */
export async function verificationLink(email: string, timeoutMs = 30_000): Promise<string> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const files = existsSync(MAIL_DIR) ? readdirSync(MAIL_DIR).filter((f) => f.endsWith('.eml')).sort().reverse() : []
    for (const file of files) {
      const raw = readFileSync(join(MAIL_DIR, file), 'utf8')
      if (!/^X-Helpdesk-Kind: verify_email$/m.test(raw)) continue
      const to = raw.match(/^To: (.*)$/m)?.[1] ?? ''
      if (!to.toLowerCase().includes(email.toLowerCase())) continue
      const found = decodeQuotedPrintable(raw).match(/\/verify\?token=[A-Za-z0-9_.%-]+/)
      if (found) return found[0]
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`No verification mail to ${email} in ${MAIL_DIR} within ${timeoutMs} ms.`)
}

/** Follow the verification mail's link in `page`, as the owner of the address would. */
export async function followVerificationLink(page: Page, email: string) {
  await page.goto(await verificationLink(email))
  await page.getByText('Your email address is confirmed.').waitFor()
}

/** The same through the API alone (for clients, such as the /compat one, that have no such page). */
export async function verifyByMail(email: string) {
  const token = decodeURIComponent((await verificationLink(email)).split('token=')[1])
  return apiCall('POST', '/api/auth/verify', null, { token })
}
