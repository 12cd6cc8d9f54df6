import { generateKeyPairSync, sign, verify, createPublicKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { LeaseTable } from '../../crdt/liveness.js'
import { ReplicatedRegistry } from '../../crdt/registry.js'
import { Replica } from '../../crdt/replica.js'
import { VariableStore } from '../../crdt/variables.js'
import type { SignedBlob } from '../../crdt/codec.js'
import type { RegistryLimits } from '../../crdt/limits.js'
import type { FenceFloor } from '../../crdt/fences.js'
import type { Verifier } from '../../crdt/signing.js'

/** Real Ed25519 keys for test hosts; host ids are plain names. */
export class TestKeys {
  private readonly keys = new Map<string, { priv: KeyObject, pub: KeyObject }>()
  signer (host: string): { id: string, sign: (d: Uint8Array) => Uint8Array } {
    let k = this.keys.get(host)
    if (k === undefined) {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519')
      k = { priv: privateKey, pub: createPublicKey(privateKey) }
      void publicKey
      this.keys.set(host, k)
    }
    const priv = k.priv
    return { id: host, sign: (d) => new Uint8Array(sign(null, d, priv)) }
  }

  verifier: Verifier = (host, data, sig) => {
    const k = this.keys.get(host)
    if (k === undefined) return false
    try { return verify(null, data, k.pub, sig) } catch { return false }
  }
}

export interface TestNode {
  id: string
  replica: Replica
  registry: ReplicatedRegistry
  variables: VariableStore
  leases: LeaseTable
  outbox: SignedBlob[]
  gaps: number
}

export function makeNode (keys: TestKeys, id: string, opts: { now?: () => number, limits?: Partial<RegistryLimits>, leaseMs?: number, pruneAfterMs?: number, fenceFloor?: FenceFloor, later?: (fn: () => void) => void } = {}): TestNode {
  const now = opts.now ?? Date.now
  const node: Partial<TestNode> & { outbox: SignedBlob[], gaps: number } = { id, outbox: [], gaps: 0 }
  const leases = new LeaseTable(id, { leaseMs: opts.leaseMs ?? 1000, pruneAfterMs: opts.pruneAfterMs ?? 5000, prunedHostsMax: 100 }, now)
  const replica = new Replica({
    signer: keys.signer(id),
    verify: keys.verifier,
    mesh: 'test',
    now,
    ...(opts.limits !== undefined ? { limits: opts.limits } : {}),
    acceptHost: (h) => leases.accepts(h)
  })
  replica.hooks.onGap = () => { node.gaps++ }
  const registry = new ReplicatedRegistry({ replica, leases, now, publish: (b) => node.outbox.push(b), ...(opts.later !== undefined ? { later: opts.later } : {}) })
  const variables = new VariableStore({ replica, now, publish: (b) => node.outbox.push(b), ...(opts.fenceFloor !== undefined ? { fenceFloor: opts.fenceFloor } : {}) })
  return Object.assign(node, { replica, registry, variables, leases }) as TestNode
}

/** One anti-entropy pull: `to` sends its digest to `from` and applies what comes back. */
export function pull (to: TestNode, from: TestNode): number {
  const msgs = from.replica.missingFor(to.replica.digest())
  for (const m of msgs) to.replica.apply(m)
  return msgs.length
}

/** Delivers every node's outbox to every other node (gossip), then clears the outboxes. */
export function gossipAll (nodes: TestNode[]): void {
  const batches = nodes.map(n => ({ from: n, blobs: n.outbox.splice(0) }))
  for (const { from, blobs } of batches) {
    for (const to of nodes) if (to !== from) for (const b of blobs) to.replica.apply(b.bytes)
  }
}

/** Pulls between every ordered pair until nothing moves. */
export function antiEntropyAll (nodes: TestNode[]): void {
  for (let round = 0; round < 10; round++) {
    let moved = 0
    for (const a of nodes) for (const b of nodes) if (a !== b) moved += pull(a, b)
    if (moved === 0) return
  }
  throw new Error('anti-entropy did not quiesce in 10 rounds')
}

export function snapshot (n: TestNode): string[] {
  return [...n.registry.index.values()].map(a => `${a.id}@${a.host}:${a.health}:${a.capabilities.join('+')}:${JSON.stringify(a.metadata)}`).sort()
}
