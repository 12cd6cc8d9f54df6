/**
 * The dashboard at scale, in headless Chromium (Debian's, through playwright-core): one peer of an
 * in-process mesh of BENCH_UI_PEERS peers over TCP (default 30: this machine forms no in-process mesh of 100, see bench formation) holds BENCH_UI_AGENTS agents (default
 * 10,000) and serves its HTTP API and /ui. Measures how long the agents page takes to hold them all,
 * how many rows it keeps in the DOM, the frame interval while scrolling, a search, a live update, and the
 * topology page drawing every peer.
 */
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { createLiveMesh } from '../../sim/live.js'
import { startApi } from '../../src/daemon/http.js'
import { createLogger } from '../../src/base/log.js'

export const name = 'ui'

const PEERS = Number(process.env.BENCH_UI_PEERS ?? 30)
const AGENTS = Number(process.env.BENCH_UI_AGENTS ?? 10_000)
const TOKEN = 'bench-token-0123456789abcdef'

function quantile (xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN
}

const round = (x: number, d = 1): number => Number(x.toFixed(d))

async function until (cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

export default async function (): Promise<Record<string, unknown>> {
  const executablePath = [process.env.CHROMIUM_PATH, '/usr/lib/chromium/chromium', '/usr/bin/chromium'].find(p => p !== undefined && existsSync(p))
  if (executablePath === undefined) return { error: 'ERR_NO_CHROMIUM: install Debian\'s chromium or set CHROMIUM_PATH' }
  let t0 = performance.now()
  const mesh = await createLiveMesh({ peers: PEERS, logLevel: 'silent' })
  const meshFormS = (performance.now() - t0) / 1000
  const peer = mesh.peers[0]!
  const api = await startApi({ peer, token: TOKEN, host: '127.0.0.1', port: 0, bodyBytesMax: 1 << 20, log: createLogger('silent') })
  const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] })
  try {
    const agents = Array.from({ length: AGENTS }, (_, i) => ({ id: `agent-${String(i).padStart(5, '0')}`, capabilities: [`cap-${i % 50}`, i % 2 === 0 ? 'gpu' : 'cpu'], zone: `zone-${i % 4}`, load: (i % 10) / 10 }))
    for (let i = 0; i < agents.length; i += 1000) await peer.registry.registerMany(agents.slice(i, i + 1000))
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
    const origin = `http://${api.address}`

    // The agents page: every agent paged in (1,000 per request), then the windowed table.
    t0 = performance.now()
    await page.goto(`${origin}/ui/#token=${TOKEN}`)
    await page.evaluate("location.hash = '#/agents'")
    await until(async () => ((await page.getByTestId('agent-count').textContent()) ?? '').includes(`of ${AGENTS} agents`), 120_000, 'every agent listed')
    const agentsLoadMs = performance.now() - t0
    const rowsInDom = await page.locator('.vbody .vrow').count()

    // Scrolling: 60 frames, 900 px each, the interval between frames.
    // (Page code as text: this file is compiled without the DOM's types.)
    const frames = await page.evaluate(`(async () => {
      const box = document.querySelector('.vbody')
      const out = []
      let last = performance.now()
      for (let i = 0; i < 60; i++) {
        box.scrollTop += 900
        await new Promise(resolve => requestAnimationFrame(resolve))
        const now = performance.now()
        out.push(now - last)
        last = now
      }
      return out
    })()`) as number[]

    // A search narrowing 10,000 rows to 200 (cap-7 matches 1 in 50).
    t0 = performance.now()
    await page.getByLabel('Search').fill('cap-7')
    await until(async () => ((await page.getByTestId('agent-count').textContent()) ?? '').startsWith(`${AGENTS / 50} of`), 30_000, 'the search applied')
    const searchMs = performance.now() - t0
    await page.getByLabel('Search').fill('')

    // A live update: one more agent registered, until its row is in the table.
    t0 = performance.now()
    await peer.registry.register({ id: 'agent-new', capabilities: ['cap-7'] })
    await until(async () => ((await page.getByTestId('agent-count').textContent()) ?? '').includes(`of ${AGENTS + 1} agents`), 30_000, 'the new agent listed')
    const liveUpdateMs = performance.now() - t0

    // The topology page with every peer drawn.
    t0 = performance.now()
    await page.evaluate("location.hash = '#/topology'")
    await until(async () => (await page.locator('.graph .node').count()) >= PEERS, 60_000, 'every peer drawn')
    const topologyMs = performance.now() - t0
    const heapMb = await page.evaluate('(performance.memory?.usedJSHeapSize ?? NaN) / 1e6') as number
    return {
      peers: PEERS,
      agents: AGENTS,
      meshFormS: round(meshFormS),
      agentsPageLoadMs: round(agentsLoadMs),
      agentRowsInDom: rowsInDom,
      scrollFrameP50Ms: round(quantile(frames, 0.5)),
      scrollFrameP95Ms: round(quantile(frames, 0.95)),
      searchMs: round(searchMs),
      liveUpdateMs: round(liveUpdateMs),
      topologyAllPeersDrawnMs: round(topologyMs),
      pageHeapMb: round(heapMb)
    }
  } finally {
    await browser.close()
    await api.close()
    await mesh.stop()
  }
}
