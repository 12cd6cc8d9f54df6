/**
 * The dashboard (O6) in a real browser: three real daemons, headless Chromium through playwright-core.
 * Logs in, sees the peers and the leader, watches an agent registered on another daemon appear, an
 * auction's bids and outcome arrive, a variable change, and a killed daemon turn unreachable. The page
 * must raise no script error, no Content-Security-Policy violation, and ask nothing of another origin.
 *
 * Screenshots go to a temporary directory (or $AGORA_SCREENSHOT_DIR, kept); with AGORA_UPDATE_SCREENSHOT=1 the topology one also
 * replaces the README's (examples/dashboard/screenshot.png).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createServer, request } from 'node:http'
import type { ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, ensureMesh, startMesh, stopAll } from '../daemon/helpers.js'
import type { Daemon, DaemonMesh } from '../daemon/helpers.js'
import { waitUntil } from '../helpers/wait.js'
import { launch, lowContrast, unlabelled, watchedPage } from './browser.js'
import type { PageWatch } from './browser.js'

const root = mkdtempSync(join(tmpdir(), 'agora-ui-'))
const shots = process.env.AGORA_SCREENSHOT_DIR ?? join(root, 'screenshots')
mkdirSync(shots, { recursive: true })
const README_SHOT = join(process.cwd(), 'examples/dashboard/screenshot.png')
let mesh: DaemonMesh
let d0: Daemon
let browser: Browser
let page: Page
let watch: PageWatch
let origin: string

/** The graph's nodes: peer id → position in the SVG's own units (its viewBox is 720 × 420). */
async function nodePositions (): Promise<Map<string, { x: number, y: number }>> {
  const raw = await page.locator('.graph .node').evaluateAll(els => els.map(e => [e.getAttribute('data-peer'), e.getAttribute('transform')]))
  const out = new Map<string, { x: number, y: number }>()
  for (const [id, t] of raw) {
    const m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(t ?? '')
    if (id !== null && m !== null) out.set(id, { x: Number(m[1]), y: Number(m[2]) })
  }
  return out
}

/** Waits until `count` elements match `selector` on the page (bounded). */
async function waitCount (selector: string, count: number, what: string, timeoutMs = 20_000): Promise<void> {
  await waitUntil(async () => (await page.locator(selector).count()) === count, { what, timeoutMs, intervalMs: 50 })
}

async function shot (name: string, p: Page = page): Promise<string> {
  const file = join(shots, `${name}.png`)
  await p.screenshot({ path: file, fullPage: false })
  expect(statSync(file).size).toBeGreaterThan(5_000)
  return file
}

beforeAll(async () => {
  mesh = await startMesh(join(root, 'mesh'))
  await ensureMesh(mesh)
  d0 = mesh.daemons[0]
  origin = `http://${d0.http}`
  browser = await launch()
  ;({ page, watch } = await watchedPage(browser, origin))
}, 90_000)

afterAll(async () => {
  await browser?.close()
  await stopAll()
  rmSync(root, { recursive: true, force: true })
})

describe('the dashboard at /ui', () => {
  it('is served without a token, under a strict policy, from a fixed list of files', async () => {
    const redirect = await fetch(`${origin}/ui`, { redirect: 'manual' })
    expect([redirect.status, redirect.headers.get('location')]).toEqual([308, '/ui/'])
    const index = await fetch(`${origin}/ui/`)
    expect(index.status).toBe(200)
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const csp = index.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(index.headers.get('x-content-type-options')).toBe('nosniff')
    const html = await index.text()
    expect(html).toContain('<script type="module" src="app.js"></script>')
    const etag = index.headers.get('etag')!
    expect((await fetch(`${origin}/ui/`, { headers: { 'if-none-match': etag } })).status).toBe(304)
    const js = await fetch(`${origin}/ui/app.js`)
    expect([js.status, js.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8'])
    // Nothing else: no traversal, no listing, no writes; the API itself still needs the token.
    for (const path of ['/ui/index.ts', '/ui/pages/agents.tsx', '/ui/app.js.map', '/ui/%2e%2e%2fhttp.token', '/ui/..%2F..%2Fpackage.json']) {
      const r = await fetch(`${origin}${path}`)
      expect(r.status, path).toBe(404)
    }
    // A path that climbs out of /ui is no longer a dashboard path: the API's token check answers it.
    const climbed = await fetch(`${origin}/ui/../http.token`)
    expect(climbed.status).toBe(401)
    expect(await climbed.text()).not.toContain(d0.token)
    const post = await fetch(`${origin}/ui/`, { method: 'POST' })
    expect([post.status, ((await post.json()) as { error: { code: string } }).error.code]).toEqual([405, 'ERR_METHOD_NOT_ALLOWED'])
    expect((await fetch(`${origin}/v1/status`)).status).toBe(401)
  })

  it('refuses a wrong token at the login form, then logs in and shows three peers and one leader', async () => {
    await page.goto(`${origin}/ui/`)
    await page.getByLabel('Daemon token').fill('not-the-token-at-all')
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.getByRole('alert').filter({ hasText: 'refused this token' }).waitFor({ timeout: 15_000 })
    await page.getByLabel('Daemon token').fill(d0.token)
    await page.getByRole('button', { name: 'Log in' }).click()
    await waitCount('[data-testid=peer-row]', 3, 'three peers listed')
    await waitCount('.graph .node', 3, 'three peers drawn')
    await waitCount('.graph .node[data-raft=leader]', 1, 'one leader drawn')
    await waitUntil(async () => (await page.getByTestId('stream-state').textContent()) === 'live', { what: 'the event stream open', timeoutMs: 15_000 })
    const rows = await page.locator('[data-testid=peer-row]').evaluateAll(els => els.map(e => e.getAttribute('data-peer')))
    expect(new Set(rows)).toEqual(new Set(mesh.ids))
    // One connected group: laid out around the middle of the drawing.
    const at = [...(await nodePositions()).values()]
    const meanX = at.reduce((a, p) => a + p.x, 0) / at.length
    expect(Math.abs(meanX - 360)).toBeLessThan(72)
    await shot('topology')
    // Keep the shot of the whole topology page for the README (written when asked, see the file's comment).
    await page.screenshot({ path: join(shots, 'readme.png'), fullPage: true })
    // The token stays out of the page's address.
    expect(page.url()).not.toContain(d0.token)
  })

  it('logs in from a #token= link and takes the token out of the address bar', async () => {
    const { page: p, watch: w } = await watchedPage(browser, origin)
    await p.goto(`${origin}/ui/#token=${encodeURIComponent(d0.token)}`)
    await p.locator('[data-testid=peer-row]').first().waitFor({ timeout: 15_000 })
    expect(p.url()).not.toContain('token')
    expect(await p.evaluate(() => sessionStorage.length)).toBe(1)
    expect([w.errors, w.violations, w.offOrigin]).toEqual([[], [], []])
    await p.context().close()
  })

  it('shows an agent registered on another daemon appear, and its descriptor on click', async () => {
    await page.getByRole('link', { name: 'Agents', exact: true }).click()
    await page.getByTestId('agent-count').filter({ hasText: 'agents' }).waitFor({ timeout: 15_000 })
    const d2 = mesh.daemons[2]
    expect((await api(d2, 'POST', '/v1/agents', { id: 'ui-planner', capabilities: ['plan', 'gpu'], metadata: { team: 'blue' } })).status).toBe(201)
    const row = page.locator('[data-testid=agent-row][data-agent=ui-planner]')
    await row.waitFor({ timeout: 15_000 })
    // Searching narrows the table; the row opens with the keyboard.
    await page.getByLabel('Search').fill('plan')
    await waitCount('[data-testid=agent-row]', 1, 'one agent matching "plan"')
    await page.locator('.vrow[data-index="0"]').focus()
    await page.keyboard.press('Enter')
    await page.getByTestId('agent-detail').waitFor({ timeout: 15_000 })
    expect(await page.getByTestId('agent-detail').textContent()).toContain('plan, gpu')
    expect(page.url()).toContain('#/agents/ui-planner')
    await shot('agent')
  })

  it('lists more agents than one page of the API (1,000), and searches them', async () => {
    await page.getByRole('link', { name: 'Agents', exact: true }).click()
    await waitUntil(async () => /^1 of 1 agents/.test((await page.getByTestId('agent-count').textContent()) ?? ''), { what: 'the agents page', timeoutMs: 15_000 })
    const d1 = mesh.daemons[1]
    const ids = Array.from({ length: 1100 }, (_, i) => `bulk-${String(i).padStart(4, '0')}`)
    for (let i = 0; i < ids.length; i += 50) {
      const codes = await Promise.all(ids.slice(i, i + 50).map(async id => (await api(d1, 'POST', '/v1/agents', { id, capabilities: [`bulk-cap-${Number(id.slice(5)) % 10}`] })).status))
      expect(codes.every(c => c === 201)).toBe(true)
    }
    // Registered while the page was open: every one arrives through the event stream.
    await waitUntil(async () => /^1101 of 1101 agents/.test((await page.getByTestId('agent-count').textContent()) ?? ''), { what: '1,101 agents listed live', timeoutMs: 30_000 })
    // Read afresh: paged in 1,000 at a time.
    await page.getByRole('button', { name: 'Reload' }).click()
    await waitUntil(async () => /^1101 of 1101 agents/.test((await page.getByTestId('agent-count').textContent()) ?? ''), { what: '1,101 agents read in pages', timeoutMs: 30_000 })
    // Windowed: a few dozen rows in the DOM, not a thousand.
    expect(await page.locator('.vbody .vrow').count()).toBeLessThan(60)
    await page.getByLabel('Search').fill('bulk-cap-3')
    await waitUntil(async () => /^110 of 1101 agents/.test((await page.getByTestId('agent-count').textContent()) ?? ''), { what: 'the search narrowing to 110', timeoutMs: 15_000 })
    await page.getByLabel('Search').fill('')
  })

  it('misses no agent registered after the page read its list and before the event stream opened', async () => {
    const { page: p, watch: w } = await watchedPage(browser, origin)
    // The event stream's request is held until the agents page has read its list.
    let release!: () => void
    const held = new Promise<void>(resolve => { release = resolve })
    await p.route(url => url.pathname === '/v1/events', async (route) => { await held; await route.continue() })
    await p.goto(`${origin}/ui/#token=${encodeURIComponent(d0.token)}`)
    await p.getByRole('link', { name: 'Agents', exact: true }).click()
    await waitUntil(async () => /^\d+ of \d+ agents/.test((await p.getByTestId('agent-count').textContent()) ?? ''), { what: 'the agents page read', timeoutMs: 20_000 })
    expect(await p.getByTestId('stream-state').textContent()).not.toBe('live')
    expect((await api(d0, 'POST', '/v1/agents', { id: 'ui-between', capabilities: ['late'] })).status).toBe(201)
    release()
    await waitUntil(async () => (await p.getByTestId('stream-state').textContent()) === 'live', { what: 'the event stream open', timeoutMs: 20_000 })
    // The table draws only the rows in view: narrow it to the one agent.
    await p.getByLabel('Search').fill('ui-between')
    await p.locator('[data-testid=agent-row][data-agent=ui-between]').waitFor({ timeout: 20_000 })
    expect([w.errors, w.violations, w.offOrigin]).toEqual([[], [], []])
    await p.context().close()
  })

  it('answers a link to an agent whose id is not well escaped with that page, not a blank dashboard', async () => {
    const { page: p, watch: w } = await watchedPage(browser, origin)
    await p.goto(`${origin}/ui/#token=${encodeURIComponent(d0.token)}`)
    await p.locator('[data-testid=peer-row]').first().waitFor({ timeout: 20_000 })
    await p.evaluate(() => { location.hash = '#/agents/100%' })
    await p.getByRole('heading', { name: 'Agent 100%' }).waitFor({ timeout: 20_000 })
    expect(await p.getByRole('navigation', { name: 'Pages' }).isVisible()).toBe(true)
    expect([w.errors, w.violations, w.offOrigin]).toEqual([[], [], []])
    await p.context().close()
  })

  it('reconnects when its event stream goes silent (no keepalive: a connection dead without a close)', async () => {
    // A proxy to the daemon whose event stream answers, then never sends another byte.
    const [host, port] = [d0.http.slice(0, d0.http.lastIndexOf(':')), Number(d0.http.slice(d0.http.lastIndexOf(':') + 1))]
    let streams = 0
    const silent: ServerResponse[] = []
    const proxy = createServer((req, res) => {
      if ((req.url ?? '').startsWith('/v1/events')) {
        streams++
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
        res.write(': silent from now on\n\n')
        silent.push(res)
        return
      }
      const up = request({ host, port, path: req.url, method: req.method, headers: req.headers }, (r) => { res.writeHead(r.statusCode ?? 502, r.headers); r.pipe(res) })
      up.on('error', () => { res.destroy() })
      req.pipe(up)
    })
    await new Promise<void>(resolve => { proxy.listen(0, '127.0.0.1', resolve) })
    const via = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
    const { page: p } = await watchedPage(browser, via)
    try {
      await p.goto(`${via}/ui/#token=${encodeURIComponent(d0.token)}`)
      await waitUntil(async () => (await p.getByTestId('stream-state').textContent()) === 'live', { what: 'the event stream open', timeoutMs: 20_000 })
      expect(streams).toBe(1)
      await waitUntil(() => streams >= 2, { what: 'a new event stream after the silence', timeoutMs: 90_000, intervalMs: 200 })
    } finally {
      await p.context().close()
      for (const r of silent) r.destroy()
      await new Promise<void>(resolve => { proxy.close(() => { resolve() }) })
    }
  }, 120_000)

  it('shows an auction\'s bids arrive live and its outcome', async () => {
    const [, d1, d2] = mesh.daemons
    await page.getByRole('link', { name: 'Economy' }).click()
    await page.getByRole('heading', { name: 'Open auctions' }).waitFor({ timeout: 15_000 })
    for (const [account, amount, owner] of [['ui-seller', 1, d0], ['ui-b1', 100, d1], ['ui-b2', 100, d2]] as const) {
      expect((await api(d0, 'POST', '/v1/ledger/mint', { account, amount, owner: owner.peerId })).status).toBe(200)
    }
    expect((await api(d0, 'POST', '/v1/auctions', { id: 'ui-gpu', mechanism: 'first-price', items: ['gpu'], reserve: 5, durationMs: 60_000, seller: 'ui-seller' })).status).toBe(201)
    const card = page.locator('[data-testid=auction][data-auction=ui-gpu]')
    await card.waitFor({ timeout: 15_000 })
    expect(await card.getAttribute('data-status')).toBe('open')
    expect((await api(d1, 'POST', '/v1/auctions/ui-gpu/bids', { agent: 'ui-b1', bid: { amount: 20 } })).status).toBe(201)
    await card.locator('[data-testid=bid][data-agent=ui-b1]').waitFor({ timeout: 15_000 })
    expect((await api(d2, 'POST', '/v1/auctions/ui-gpu/bids', { agent: 'ui-b2', bid: { amount: 30 } })).status).toBe(201)
    await card.locator('[data-testid=bid][data-agent=ui-b2]').waitFor({ timeout: 15_000 })
    await shot('auction-open')
    expect((await api(d0, 'POST', '/v1/auctions/ui-gpu/close', { by: 'ui-seller' })).status).toBe(200)
    const settled = page.locator('[data-testid=auction][data-auction=ui-gpu][data-status=settled]')
    await settled.waitFor({ timeout: 15_000 })
    expect(await settled.getByTestId('outcome').textContent()).toContain('ui-b2 pays 30')
    await shot('economy')
  })

  it('shows a variable written on another daemon, and the events feed', async () => {
    await page.getByRole('link', { name: 'Variables' }).click()
    expect((await api(mesh.daemons[1], 'PUT', '/v1/variables/eventual/ui-temperature', { value: 21, merge: 'max' })).status).toBe(200)
    await page.locator('[data-testid=variable][data-name=ui-temperature]').waitFor({ timeout: 15_000 })
    await page.getByRole('link', { name: 'Events' }).click()
    await page.getByLabel('Kind').selectOption('auction')
    await page.locator('[data-testid=event][data-type="auction:settled"]').first().waitFor({ timeout: 15_000 })
    expect(await page.locator('[data-testid=event][data-type="agent:joined"]').count()).toBe(0)
    await shot('events')
  })

  it('shows a lock and its holder, an election\'s leader, a barrier\'s arrivals, a budget and a queued task', async () => {
    const [, d1, d2] = mesh.daemons
    await page.getByRole('link', { name: 'Coordination', exact: true }).click()
    await page.getByRole('heading', { name: 'Locks' }).waitFor({ timeout: 15_000 })
    const lock = await api(d1, 'POST', '/v1/coordination/locks/ui.report', { ttlMs: 60_000 })
    expect(lock.status).toBe(200)
    const holder = page.locator('tr', { has: page.locator('[data-testid=lock][data-name="ui.report"]') })
    await holder.waitFor({ timeout: 15_000 })
    expect(await holder.textContent()).toContain(`token ${lock.json.token as number}`)
    expect((await api(d2, 'POST', '/v1/coordination/elections/ui.scheduler/campaign', { value: 'd2', ttlMs: 60_000 })).status).toBe(200)
    await page.getByRole('table', { name: 'Elections' }).getByText('ui.scheduler').waitFor({ timeout: 15_000 })
    // One party of two arrives (its request waits; the barrier shows 1 of 2). Parties are hosted agents.
    expect((await api(d1, 'POST', '/v1/agents', { id: 'ui-etl-1', capabilities: ['etl'] })).status).toBe(201)
    expect((await api(d2, 'POST', '/v1/agents', { id: 'ui-etl-2', capabilities: ['etl'] })).status).toBe(201)
    const arriving = api(d1, 'POST', '/v1/coordination/barriers/ui.phase/arrive', { agent: 'ui-etl-1', parties: 2, timeoutMs: 60_000 })
    arriving.catch(() => {}) // awaited below; a failure before that must not be an unhandled rejection
    await page.getByRole('table', { name: 'Barriers' }).getByText('1 of 2').waitFor({ timeout: 15_000 })
    expect((await api(d0, 'PUT', '/v1/budgets/ui.gpu-seconds', { ratePerSecond: 100, burst: 200 })).status).toBe(201)
    await page.getByRole('table', { name: 'Budgets' }).getByText('ui.gpu-seconds').waitFor({ timeout: 15_000 })
    await shot('coordination')
    const task = await api(d0, 'POST', '/v1/tasks', { capability: 'ui-nobody-has-this', payload: { n: 1 } })
    expect(task.status).toBe(201)
    await page.getByRole('link', { name: 'Tasks', exact: true }).click()
    await page.locator(`[data-testid=task][data-task="${task.json.id as number}"][data-state=submitted]`).waitFor({ timeout: 15_000 })
    // The barrier's second party arrives: both requests answer.
    expect((await api(d2, 'POST', '/v1/coordination/barriers/ui.phase/arrive', { agent: 'ui-etl-2', parties: 2, timeoutMs: 60_000 })).status).toBe(200)
    expect((await arriving).status).toBe(200)
  })

  it('is usable at a phone\'s width, and from the keyboard', async () => {
    const { page: p, watch: w } = await watchedPage(browser, origin, { width: 390, height: 844 })
    await p.goto(`${origin}/ui/#token=${encodeURIComponent(d0.token)}`)
    await p.locator('[data-testid=peer-row]').first().waitFor({ timeout: 15_000 })
    // No horizontal scrolling of the page itself (wide tables scroll in their own box).
    expect(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1)).toBe(true)
    await p.keyboard.press('Tab')
    expect(await p.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content')
    let reached = false
    for (let i = 0; i < 12 && !reached; i++) {
      await p.keyboard.press('Tab')
      reached = (await p.evaluate(() => document.activeElement?.textContent)) === 'Agents'
    }
    expect(reached).toBe(true)
    await p.keyboard.press('Enter')
    await p.getByTestId('agent-count').waitFor({ timeout: 15_000 })
    await shot('phone', p)
    expect([w.errors, w.violations, w.offOrigin]).toEqual([[], [], []])
    await p.context().close()
  })

  it('labels every control and keeps every text readable (WCAG AA contrast), in light and dark', async () => {
    // The checks can fail: a pale text and a bare input, added for a moment, are both found.
    await page.evaluate(() => {
      const p = document.createElement('p')
      p.id = 'probe'
      p.textContent = 'pale probe'
      p.style.color = '#c0c0c0'
      p.style.background = '#ffffff'
      p.appendChild(document.createElement('input'))
      document.querySelector('main')!.appendChild(p)
    })
    expect((await lowContrast(page)).map(x => x.text)).toContain('pale probe')
    expect((await unlabelled(page)).length).toBe(1)
    await page.evaluate(() => { document.getElementById('probe')!.remove() })
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme })
      for (const name of ['Topology', 'Agents', 'Variables', 'Economy', 'Coordination', 'Tasks', 'Events']) {
        await page.getByRole('link', { name, exact: true }).click()
        await page.locator('main .card').first().waitFor({ timeout: 15_000 })
        expect(await unlabelled(page), `${name} (${scheme})`).toEqual([])
        expect(await lowContrast(page), `${name} (${scheme})`).toEqual([])
      }
    }
    await page.emulateMedia({ colorScheme: 'light' })
  })

  it('shows a killed daemon turn unreachable', async () => {
    await page.getByRole('link', { name: 'Topology' }).click()
    await waitCount('[data-testid=peer-row]', 3, 'three peers listed')
    const victim = mesh.daemons[2]
    victim.proc.kill('SIGKILL')
    await page.locator(`[data-testid=reachability][data-peer="${victim.peerId}"]`).filter({ hasText: 'unreachable' }).waitFor({ timeout: 30_000 })
    await page.locator(`.graph .node[data-peer="${victim.peerId}"][data-reachable=no]`).waitFor({ timeout: 10_000 })
    // The cut-off peer is drawn apart from the group that still reaches each other.
    await waitUntil(async () => {
      const at = await nodePositions()
      const dead = at.get(victim.peerId)
      const live = [...at].filter(([id]) => id !== victim.peerId).map(([, p]) => p)
      return dead !== undefined && live.length === 2 && Math.abs(dead.x - (live[0]!.x + live[1]!.x) / 2) > 150
    }, { what: 'the unreachable peer drawn as a group of its own', timeoutMs: 15_000 })
    const file = await shot('unreachable')
    expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG')
  })

  it('raised no script error, no policy violation, and asked nothing of another origin', async () => {
    expect(watch.errors).toEqual([])
    expect(watch.violations).toEqual([])
    expect(watch.offOrigin).toEqual([])
    if (process.env.AGORA_UPDATE_SCREENSHOT === '1') copyFileSync(join(shots, 'readme.png'), README_SHOT)
  })
})
