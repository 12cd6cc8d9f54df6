/**
 * Per-host quotas on receive (FEATURES O7). Reported break: a rogue host gossiping 1 MB updates of its own
 * document added 312 MiB of RSS and 95 MiB of disk to a victim in 7 s; `logBytesPerDocMax` bounded only
 * the relay log. Now a host document may take at most `docBytesMax` on a receiver (checkpoint, updates
 * after it, updates waiting for a gap) and a host's blobs at most `hostUpdateBytesPerSecondMax` (bucket
 * `hostUpdateBytesBurstMax`); the excess is refused before it touches memory or disk, counted, and the
 * host shows as over quota.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { TAG_CHECKPOINT, attachSignature, encodeSignedPart } from '../../crdt/codec.js'
import { signingContext, withContext } from '../../crdt/signing.js'
import { RATE_LIMITED_STATUS_MS } from '../../crdt/replica.js'
import { TestKeys, antiEntropyAll, gossipAll, makeNode, pull } from './helpers.js'
import type { TestNode } from './helpers.js'
import type { RegistryLimits } from '../../crdt/limits.js'

const KiB = 1024
const UNLIMITED_RATE = { hostUpdateBytesPerSecondMax: 1e9, hostUpdateBytesBurstMax: 1e9 }

function clock (start = 1_700_000_000_000): { now: () => number, advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms } }
}

/** Incompressible text of about `bytes` bytes. */
function junk (bytes: number): string {
  return randomBytes(Math.ceil(bytes * 3 / 4)).toString('base64').slice(0, bytes)
}

/** The rogue writes `n` updates of `bytes` each into its own registry document (outside the agents). */
function flood (rogue: TestNode, n: number, bytes: number, from = 0): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let i = from; i < from + n; i++) {
    const value = junk(bytes)
    out.push(rogue.replica.transact('reg', (doc) => { doc.getMap('junk').set(`k${i}`, value) })!.bytes)
  }
  return out
}

function pair (limits: Partial<RegistryLimits>, now?: () => number): { keys: TestKeys, rogue: TestNode, victim: TestNode } {
  const keys = new TestKeys()
  const opts = now === undefined ? { limits } : { limits, now }
  // The rogue itself runs without quotas: what it writes is the victim's problem.
  const rogue = makeNode(keys, 'R', now === undefined ? {} : { now })
  const victim = makeNode(keys, 'V', opts)
  antiEntropyAll([rogue, victim])
  return { keys, rogue, victim }
}

describe('document quota (docBytesMax)', () => {
  it('the reported break: updates that would take a host document past docBytesMax are refused, counted and shown; a compaction lifts it', async () => {
    const QUOTA = 64 * KiB
    const { rogue, victim } = pair({ docBytesMax: QUOTA, ...UNLIMITED_RATE })
    await rogue.registry.register({ id: 'rogue-agent', capabilities: ['x'] })
    gossipAll([rogue, victim])
    const quotaEvents: boolean[] = []
    const prev = victim.replica.hooks.onQuota
    victim.replica.hooks.onQuota = (host, over) => { prev?.(host, over); if (host === 'R') quotaEvents.push(over) }
    const results = flood(rogue, 20, 8 * KiB).map(b => victim.replica.apply(b))
    const refused = results.filter(r => r.status === 'rejected')
    expect(refused.length).toBeGreaterThan(10)
    for (const r of refused) expect(r).toMatchObject({ reason: 'doc-quota', host: 'R', kind: 'reg' })
    // Nothing past the quota is held: the replica's count and the document's real size agree.
    expect(victim.replica.docBytes('reg', 'R')).toBeLessThanOrEqual(QUOTA)
    expect(Y.encodeStateAsUpdate(victim.replica.get('reg', 'R')!.doc).length).toBeLessThanOrEqual(QUOTA)
    expect(victim.replica.stats.rejected['doc-quota']).toBe(refused.length)
    expect(victim.replica.stats.quotaRejectedBytes).toBeGreaterThan(refused.length * 8 * KiB)
    expect(victim.replica.hostUsage('R')).toMatchObject({ overQuota: true, rejectedBlobs: refused.length })
    expect(victim.replica.hostUsage('V').overQuota).toBe(false)
    expect(quotaEvents).toEqual([true])
    // Query results say the host's agents may be stale.
    const q = victim.registry.query({ capability: 'x' })
    expect(q.freshness.overQuotaHosts).toBe(1)
    expect(q.agents[0]?.freshness.hostOverQuota).toBe(true)
    // Its later updates, even small ones, are refused too: the document stays where it was.
    const seq = victim.replica.entry('reg', 'R')!.seq
    await rogue.registry.register({ id: 'later', capabilities: ['x'] })
    gossipAll([rogue, victim])
    expect(victim.registry.lookup('later')).toBeUndefined()
    expect(victim.replica.entry('reg', 'R')!.seq).toBe(seq)
    // The host drops its junk and compacts: the new incarnation's checkpoint is within the quota.
    rogue.replica.transact('reg', (doc) => { for (const k of [...doc.getMap('junk').keys()]) doc.getMap('junk').delete(k) })
    rogue.replica.compact('reg')
    pull(victim, rogue)
    expect(victim.replica.hostUsage('R').overQuota).toBe(false)
    expect(quotaEvents).toEqual([true, false])
    expect(victim.registry.lookup('later')?.freshness.hostOverQuota).toBe(false)
    expect(victim.registry.query({ capability: 'x' }).freshness.overQuotaHosts).toBe(0)
  })

  it('updates waiting for a gap count toward the quota', async () => {
    const QUOTA = 64 * KiB
    const { rogue, victim } = pair({ docBytesMax: QUOTA, ...UNLIMITED_RATE })
    const blobs = flood(rogue, 20, 8 * KiB)
    // Everything but the first arrives: all of it would wait for the gap.
    const results = blobs.slice(1).map(b => victim.replica.apply(b))
    expect(results.filter(r => r.status === 'pending').length).toBeLessThan(8)
    expect(results.filter(r => r.status === 'rejected' && r.reason === 'doc-quota').length).toBeGreaterThan(10)
    expect(victim.replica.docBytes('reg', 'R')).toBeLessThanOrEqual(QUOTA)
  })

  it('a checkpoint over the quota is refused whole (a late joiner holds nothing of that host); other hosts still sync', async () => {
    const QUOTA = 64 * KiB
    const keys = new TestKeys()
    const rogue = makeNode(keys, 'R')
    const honest = makeNode(keys, 'H')
    flood(rogue, 12, 8 * KiB)
    await honest.registry.register({ id: 'h-agent' })
    antiEntropyAll([rogue, honest])
    const late = makeNode(keys, 'L', { limits: { docBytesMax: QUOTA, ...UNLIMITED_RATE } })
    pull(late, rogue)
    pull(late, honest)
    expect(late.replica.get('reg', 'R')).toBeUndefined()
    expect(late.replica.docBytes('reg', 'R')).toBe(0)
    expect(late.replica.stats.rejected['doc-quota']).toBeGreaterThan(0)
    expect(late.replica.hostUsage('R').overQuota).toBe(true)
    expect(late.registry.lookup('h-agent')).toBeDefined()
  })

  it('a newer checkpoint replaces the document: partial checkpoints cannot grow it past the quota', async () => {
    const QUOTA = 64 * KiB
    const { keys, rogue, victim } = pair({ docBytesMax: QUOTA, ...UNLIMITED_RATE })
    const entry = victim.replica.entry('reg', 'R')!
    let seq = entry.seq
    for (let round = 0; round < 6; round++) {
      // Each "checkpoint" holds only new content (40 KiB), not the document's whole state.
      const part = new Y.Doc()
      part.getMap('junk').set(`round${round}`, junk(40 * KiB))
      seq += 10
      const signed = encodeSignedPart(TAG_CHECKPOINT, 'reg', 'R', entry.incarnation, seq, Y.encodeStateAsUpdate(part))
      const cp = attachSignature(signed, keys.signer('R').sign(withContext(signingContext('test'), signed)))
      expect(victim.replica.apply(cp).status).toBe('applied')
      expect(Y.encodeStateAsUpdate(victim.replica.get('reg', 'R')!.doc).length).toBeLessThanOrEqual(QUOTA)
    }
    expect([...victim.replica.get('reg', 'R')!.doc.getMap('junk').keys()]).toEqual(['round5'])
    void rogue
  })
})

describe('rate quota (hostUpdateBytesPerSecondMax)', () => {
  it('a host\'s blobs beyond its allowance are refused until it refills; forged blobs do not spend it', async () => {
    const c = clock()
    const { keys, rogue, victim } = pair({ docBytesMax: 1024 * KiB, hostUpdateBytesPerSecondMax: 10 * KiB, hostUpdateBytesBurstMax: 20 * KiB }, c.now)
    const blobs = flood(rogue, 4, 8 * KiB)
    expect(victim.replica.apply(blobs[0]!).status).toBe('applied')
    expect(victim.replica.apply(blobs[1]!).status).toBe('applied')
    expect(victim.replica.apply(blobs[2]!)).toMatchObject({ status: 'rejected', reason: 'rate-quota', host: 'R' })
    expect(victim.replica.hostUsage('R')).toMatchObject({ rateLimited: true, overQuota: false, rejectedBlobs: 1 })
    expect(victim.replica.stats.rejected['rate-quota']).toBe(1)
    // Forgeries in R's name (signed by another key) are refused for their signature, before the quota.
    c.advance(500) // + 5 KiB: enough for one more update, not two
    const fake = blobs[2]!.slice()
    const signedLen = fake.length - 65
    const forged = attachSignature(fake.subarray(0, signedLen), keys.signer('E').sign(withContext(signingContext('test'), fake.subarray(0, signedLen))))
    for (let i = 0; i < 5; i++) expect(victim.replica.apply(forged)).toMatchObject({ status: 'rejected', reason: 'signature' })
    expect(victim.replica.apply(blobs[2]!).status).toBe('applied')
    expect(victim.replica.apply(blobs[3]!).status).toBe('rejected')
    c.advance(1000)
    expect(victim.replica.apply(blobs[3]!).status).toBe('applied')
    expect(victim.replica.entry('reg', 'R')!.seq).toBe(rogue.replica.entry('reg', 'R')!.seq)
    c.advance(RATE_LIMITED_STATUS_MS)
    expect(victim.replica.hostUsage('R').rateLimited).toBe(false)
  })
})

describe('restoring from disk', () => {
  it('is not rate-limited (it passed on arrival), but the document quota still applies', async () => {
    const keys = new TestKeys()
    const rogue = makeNode(keys, 'R')
    const relay = makeNode(keys, 'X')
    flood(rogue, 6, 8 * KiB)
    pull(relay, rogue)
    const saved = [...relay.replica.exportDocs()].filter(d => d.host === 'R')
    const slow = makeNode(keys, 'S', { limits: { docBytesMax: 1024 * KiB, hostUpdateBytesPerSecondMax: KiB, hostUpdateBytesBurstMax: KiB } })
    for (const d of saved) slow.replica.restore(d.blobs)
    expect(slow.replica.entry('reg', 'R')?.seq).toBe(rogue.replica.entry('reg', 'R')!.seq)
    expect(slow.replica.stats.rejected['rate-quota']).toBe(0)
    const small = makeNode(keys, 'T', { limits: { docBytesMax: 16 * KiB, ...UNLIMITED_RATE } })
    for (const d of saved) small.replica.restore(d.blobs)
    expect(small.replica.docBytes('reg', 'R')).toBeLessThanOrEqual(16 * KiB)
    expect(small.replica.hostUsage('R').overQuota).toBe(true)
  })
})

describe('a host\'s own writes', () => {
  it('stop at half of docBytesMax with a named error; removals still work and a compaction makes room', async () => {
    const keys = new TestKeys()
    const a = makeNode(keys, 'A', { limits: { docBytesMax: 64 * KiB } })
    let n = 0
    let error: unknown
    for (; n < 100; n++) {
      try {
        await a.registry.register({ id: `big-${n}`, metadata: { blob: junk(3 * KiB) } })
      } catch (err) {
        error = err
        break
      }
    }
    expect(error).toMatchObject({ code: 'ERR_LIMIT_EXCEEDED', details: { limit: 'docBytesMax', max: 32 * KiB } })
    expect(n).toBeGreaterThan(5)
    expect(a.registry.size).toBe(n)
    expect(a.replica.docBytes('reg', 'A')).toBeLessThan(64 * KiB)
    for (let k = 0; k < n; k++) await a.registry.unregister(`big-${k}`)
    a.replica.compact('reg')
    await a.registry.register({ id: 'after', metadata: { blob: junk(3 * KiB) } })
    expect(a.registry.lookup('after')).toBeDefined()
  })

  it('an honest host writing steadily under the quota is never refused by its receivers', async () => {
    const QUOTA = 256 * KiB
    const c = clock()
    const keys = new TestKeys()
    const limits = { docBytesMax: QUOTA }
    const host = makeNode(keys, 'H', { limits, now: c.now })
    const recv = makeNode(keys, 'R', { limits, now: c.now })
    antiEntropyAll([host, recv])
    for (let i = 0; i < 200; i++) await host.registry.register({ id: `a${i}`, metadata: { pad: 'p'.repeat(200) } })
    gossipAll([host, recv])
    let most = 0
    let pulls = 0
    for (let i = 0; i < 2000; i++) {
      c.advance(10) // 100 updates a second
      await host.registry.update(`a${i % 200}`, { health: i % 2 === 0 ? 'degraded' : 'healthy', load: (i % 100) / 100 })
      gossipAll([host, recv])
      // When its updates outgrow the checkpoint it holds, the receiver asks (onGap) for the host's newer
      // one: an anti-entropy exchange.
      if (recv.gaps > 0) { recv.gaps = 0; pull(recv, host); pulls++ }
      most = Math.max(most, recv.replica.docBytes('reg', 'H'))
    }
    expect(pulls).toBeGreaterThan(2)
    expect(recv.replica.stats.rejected['doc-quota'] + recv.replica.stats.rejected['rate-quota']).toBe(0)
    expect(most).toBeLessThanOrEqual(QUOTA)
    expect(recv.registry.lookup('a199')).toMatchObject({ health: host.registry.lookup('a199')!.health })
  })
})
