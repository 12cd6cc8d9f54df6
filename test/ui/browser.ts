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

/** A text the page shows with too little contrast against what is behind it (WCAG 2 AA). */
export interface LowContrast { text: string, ratio: number, colour: string, background: string }

/**
 * Checks every visible text of the page against WCAG 2 AA: a contrast ratio of at least 4.5 (3 for large
 * text: 24 px, or 18.66 px bold), the background being the first opaque one behind the text.
 */
export async function lowContrast (page: Page): Promise<LowContrast[]> {
  return await page.evaluate(() => {
    const parse = (c: string): [number, number, number, number] => {
      const m = /rgba?\(([^)]+)\)/.exec(c)
      if (m === null) return [0, 0, 0, 0]
      const p = m[1]!.split(/[ ,/]+/).filter(Boolean).map(Number)
      return [p[0]!, p[1]!, p[2]!, p[3] ?? 1]
    }
    const lum = ([r, g, b]: number[]): number => {
      const f = (v: number): number => { const s = v / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4 }
      return 0.2126 * f(r!) + 0.7152 * f(g!) + 0.0722 * f(b!)
    }
    const backgroundOf = (el: Element | null): [number, number, number, number] => {
      for (let e = el; e !== null; e = e.parentElement) {
        const c = parse(getComputedStyle(e).backgroundColor)
        if (c[3] > 0.5) return c
      }
      return [255, 255, 255, 1]
    }
    const out: Array<{ text: string, ratio: number, colour: string, background: string }> = []
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
    const seen = new Set<Element>()
    for (let n = walker.nextNode(); n !== null; n = walker.nextNode()) {
      const el = n.parentElement
      if (el === null || seen.has(el) || (n.textContent ?? '').trim() === '') continue
      seen.add(el)
      const r = el.getBoundingClientRect()
      const style = getComputedStyle(el)
      if (r.width === 0 || r.height === 0 || style.visibility === 'hidden' || el.closest('svg') !== null) continue
      const fg = parse(style.color)
      const bg = backgroundOf(el)
      const l1 = lum(fg)
      const l2 = lum(bg)
      const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05)
      const size = parseFloat(style.fontSize)
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700)
      if (ratio < (large ? 3 : 4.5)) out.push({ text: (n.textContent ?? '').trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100, colour: style.color, background: `rgb(${bg.slice(0, 3).join(',')})` })
    }
    return out
  })
}

/** Form controls without a label, and buttons or links without an accessible name. */
export async function unlabelled (page: Page): Promise<string[]> {
  return await page.evaluate(() => {
    const out: string[] = []
    for (const el of Array.from(document.querySelectorAll('input, select, textarea'))) {
      const c = el as HTMLInputElement
      if ((c.labels?.length ?? 0) === 0 && c.getAttribute('aria-label') === null) out.push(`${el.tagName.toLowerCase()}[name=${c.name}]`)
    }
    for (const el of Array.from(document.querySelectorAll('button, a[href]'))) {
      if ((el.textContent ?? '').trim() === '' && el.getAttribute('aria-label') === null) out.push(el.outerHTML.slice(0, 60))
    }
    return out
  })
}
