/**
 * Admission to a mesh on real libp2p peers over TCP: a private network (libp2p pnet key) and the peer
 * allowlist. Peers with the same key (or on each other's allowlist) connect and sync; a peer without the
 * key, with another key, or not on the allowlist cannot connect in either direction, and nothing of
 * its registry reaches the mesh nor the mesh's reaches it. Every negative check comes after a positive
 * control has synced, and the refused peer also tries through its bootstrap list.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createPeer } from '../../peers/peer.js'
import type { Peer, PeerOptions } from '../../peers/peer.js'
import { generateSwarmKey } from '../../peers/pnet.js'
import { FAST } from './helpers.js'
import { waitUntil } from '../helpers/wait.js'

const peers: Peer[] = []
afterEach(async () => {
  await Promise.allSettled(peers.splice(0).map(async p => await p.stop()))
})

async function peer (options: PeerOptions = {}): Promise<Peer> {
  const p = await createPeer({ ...FAST, transports: ['tcp'], ...options })
  peers.push(p)
  return p
}

/** Peers this peer has an open connection with. */
const connected = (p: Peer): string[] => p.libp2p.getConnections().map(c => c.remotePeer.toString())

/** Every peer id that ever opened a connection with `p` (from its `connection:opened` events). */
function openedLog (p: Peer): Set<string> {
  const seen = new Set<string>()
  p.on('connection:opened', ({ peerId }) => { seen.add(peerId) })
  return seen
}

/** Registers one agent named after the peer, so what syncs where is visible. */
async function mark (p: Peer, name: string): Promise<void> {
  await p.registry.register({ id: name, capabilities: ['mark'] })
}

const agentIds = (p: Peer): string[] => p.registry.query({ capability: 'mark' }).agents.map(a => a.id).sort()

/**
 * `outsider` and `insider` cannot connect in either direction: each dial fails or, if the dialer's
 * half of the handshake completes, the other side refuses the connection and it closes at once.
 */
async function expectNoConnection (outsider: Peer, insider: Peer, insiderOpened: Set<string>): Promise<void> {
  await Promise.all([
    expect(insider.dial(outsider.addresses()[0]!)).rejects.toThrow(),
    outsider.dial(insider.addresses()[0]!).catch(() => {})
  ])
  await waitUntil(() => !connected(outsider).includes(insider.id) && !connected(insider).includes(outsider.id), { what: 'no connection between the outsider and the insider', timeoutMs: 15_000 })
  expect(insiderOpened.has(outsider.id)).toBe(false)
  expect(insider.members()).not.toContain(outsider.id)
  expect(outsider.members()).not.toContain(insider.id)
}

describe('private network (pnet key)', () => {
  it('peers with the same key connect and sync; peers without it or with another key cannot connect, and nothing syncs', async () => {
    const key = generateSwarmKey()
    const a = await peer({ privateNetwork: { key } })
    const aOpened = openedLog(a)
    const b = await peer({ privateNetwork: { key }, bootstrap: [`${a.addresses()[0]!}`] })
    // The outsiders also try to join through their bootstrap list.
    const plain = await peer({ bootstrap: [a.addresses()[0]!] })
    const other = await peer({ privateNetwork: { key: generateSwarmKey() }, bootstrap: [a.addresses()[0]!] })
    await Promise.all([mark(a, 'a'), mark(b, 'b'), mark(plain, 'plain'), mark(other, 'other')])

    await waitUntil(() => JSON.stringify(agentIds(a)) === '["a","b"]' && JSON.stringify(agentIds(b)) === '["a","b"]', { what: 'a and b (same key) to hold each other\'s agents', timeoutMs: 20_000 })
    expect(a.members()).toContain(b.id)

    // The peer without a key and the peer with another key: no connection either way with a keyed peer.
    await Promise.all([expectNoConnection(plain, a, aOpened), expectNoConnection(other, a, aOpened), expectNoConnection(plain, b, openedLog(b))])
    expect(agentIds(plain)).toEqual(['plain'])
    expect(agentIds(other)).toEqual(['other'])
    expect(agentIds(a)).toEqual(['a', 'b'])
    expect(agentIds(b)).toEqual(['a', 'b'])
    expect([...aOpened]).toEqual([b.id])
  })

  it('a peer given the key from a file joins the keyed mesh', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const { writeSwarmKeyFile } = await import('../../peers/pnet.js')
    const dir = await mkdtemp(join(tmpdir(), 'agora-pnet-live-'))
    try {
      const keyFile = join(dir, 'swarm.key')
      await writeSwarmKeyFile(keyFile)
      const a = await peer({ privateNetwork: { keyFile } })
      const b = await peer({ privateNetwork: { keyFile }, bootstrap: [a.addresses()[0]!] })
      await mark(b, 'b')
      await waitUntil(() => agentIds(a).includes('b'), 'a to hold b\'s agent')
      expect(a.members()).toEqual([b.id])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('allowlist', () => {
  it('listed peers connect and sync; an unlisted peer cannot connect in either direction, and nothing syncs', async () => {
    // The insiders' ids first: each allowlists the other.
    const b = await peer({ start: false })
    const a = await peer({ allowlist: [b.id] })
    const aOpened = openedLog(a)
    await b.start()
    await b.dial(a.addresses()[0]!)
    // The outsider is open to anyone and tries to join through a.
    const c = await peer({ bootstrap: [a.addresses()[0]!] })
    await Promise.all([mark(a, 'a'), mark(b, 'b'), mark(c, 'c')])

    await waitUntil(() => JSON.stringify(agentIds(a)) === '["a","b"]' && JSON.stringify(agentIds(b)) === '["a","b"]', { what: 'the listed peers to hold each other\'s agents', timeoutMs: 20_000 })
    expect(a.members()).toEqual([b.id])

    // Outbound: a does not dial an unlisted peer (the gater refuses before any packet is sent).
    await expect(a.dial(c.addresses()[0]!)).rejects.toMatchObject({ name: 'DialDeniedError' })
    // Inbound: c's dial may complete its half of the handshake, but a drops the connection once Noise
    // has shown c's peer id, before any stream is served.
    await expectNoConnection(c, a, aOpened)
    expect(agentIds(c)).toEqual(['c'])
    expect(agentIds(a)).toEqual(['a', 'b'])
    expect([...aOpened]).toEqual([b.id])
    expect(a.stats().connections).toBe(1)
  })

  it('a block wins over the allowlist and unblock restores it', async () => {
    const b = await peer({ start: false })
    const a = await peer({ allowlist: [b.id] })
    await b.start()
    await a.block([b.id])
    await expect(a.dial(b.addresses()[0]!)).rejects.toMatchObject({ name: 'DialDeniedError' })
    a.unblock([b.id])
    await a.dial(b.addresses()[0]!)
    await waitUntil(() => a.members().includes(b.id), 'b to be a member of a\'s mesh')
  })
})
