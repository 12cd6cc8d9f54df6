/**
 * The daemon's saved check declarations (src/daemon/check-routes.ts) in process: a declaration made over
 * HTTP while the saved ones are still being declared again at start must not write a file without the
 * ones not declared yet (a crash then would lose them).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createPeer, type Peer } from '../../peers/peer.js'
import { CHECKS_FILE, checkRoutes } from '../../src/daemon/check-routes.js'
import type { RouteContext } from '../../src/daemon/route-util.js'

let peer: Peer | undefined
let dir: string | undefined

afterAll(async () => {
  await peer?.stop()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

describe('saved check declarations', () => {
  it('a declaration over HTTP during the restore keeps every saved declaration in the file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'agora-check-routes-'))
    peer = await createPeer({ logLevel: 'silent', dht: false })
    const saved = Array.from({ length: 40 }, (_, i) => `saved-${i}`)
    for (const id of [...saved, 'late']) await peer.registry.register({ id })
    await writeFile(join(dir, CHECKS_FILE), JSON.stringify({ version: 1, checks: saved.map(agent => ({ agent, checks: [{ id: 'alive', ttlMs: 60_000 }] })) }))
    const routes = checkRoutes(peer, { dataDir: dir, broadcast: () => {}, warn: () => {} })
    // At once, before the restore is done: a new declaration over HTTP.
    let status = 0
    const ctx = { method: 'PUT', parts: ['v1', 'agents', 'late', 'checks'], url: new URL('http://x/v1/agents/late/checks'), body: async () => ({ checks: [{ id: 'alive', ttlMs: 60_000 }] }), send: (s: number) => { status = s } } as unknown as RouteContext
    expect(await routes.handle(ctx)).toBe(true)
    expect(status).toBe(200)
    const onDisk = (JSON.parse(await readFile(join(dir, CHECKS_FILE), 'utf8')) as { checks: Array<{ agent: string }> }).checks.map(c => c.agent).sort()
    expect(onDisk).toEqual([...saved, 'late'].sort())
    await routes.restored
    routes.close()
  })
})
