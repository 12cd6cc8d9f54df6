/**
 * Headless Chromium for the dashboard tests: Debian's `chromium` package (`.ci/run` installs it when it is
 * missing), driven by playwright-core. No browser is downloaded. A missing browser is a named failure,
 * never a skip.
 */
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'

/** Where Chromium may be: $CHROMIUM_PATH, Debian's binary, its wrapper script. */
export function chromiumPath (): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => p !== undefined && p !== '')
  const found = candidates.find(p => existsSync(p))
  if (found === undefined) {
    const err = new Error(`no Chromium found (looked at ${candidates.join(', ')}): install Debian's package (apt-get install -y chromium) or set CHROMIUM_PATH`)
    Object.assign(err, { code: 'ERR_NO_CHROMIUM' })
    throw err
  }
  return found
}

export async function launch (): Promise<Browser> {
  // --no-sandbox: CI and sessions run as root, where Chromium's sandbox refuses to start.
  return await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox'] })
}

/** What a page did that a test must fail on: script errors, CSP violations, requests to another origin. */
export interface PageWatch { errors: string[], violations: string[], offOrigin: string[] }

export async function watchedPage (browser: Browser, origin: string, viewport = { width: 1280, height: 800 }): Promise<{ page: Page, watch: PageWatch }> {
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  const watch: PageWatch = { errors: [], violations: [], offOrigin: [] }
  await page.exposeFunction('__cspViolation', (v: string) => { watch.violations.push(v) })
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __cspViolation: (v: string) => void }).__cspViolation(`${e.violatedDirective} ${e.blockedURI}`)
    })
  })
  page.on('pageerror', (e) => { watch.errors.push(e.message) })
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) watch.offOrigin.push(r.url()) })
  return { page, watch }
}
