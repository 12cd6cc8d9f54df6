/**
 * A small deterministic in-test network of RaftNodes (etcd's raft_test "network"): messages are
 * queued and delivered in FIFO order; links can be cut, nodes isolated, message types dropped.
 * The application of each node records applied data strings, so tests can compare state machines.
 */
import { createRand } from '../../src/base/prng.js'
import { MemoryStorage } from '../../protocols/raft/storage.js'
import { RaftNode } from '../../protocols/raft/raft.js'
import type { Entry, Message, MessageType, RaftConfig, ReadState } from '../../protocols/raft/types.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
export const bytes = (s: string): Uint8Array => enc.encode(s)
export const str = (b: Uint8Array): string => dec.decode(b)

export interface Peer {
  id: number
  node: RaftNode
  storage: MemoryStorage
  /** Data of applied normal, non-empty entries, in order (the "state machine"). */
  applied: string[]
  /** Every committed entry handed out, in order. */
  committed: Entry[]
  readStates: ReadState[]
  appliedIndex: number
  /** Data bytes of committed entries per non-empty Ready. */
  committedBatches: number[]
}

export type NodeOptions = Omit<RaftConfig, 'id' | 'storage' | 'rand'>

export class Net {
  readonly peers = new Map<number, Peer>()
  queue: Message[] = []
  readonly cutLinks = new Set<string>()
  readonly dropTypes = new Set<MessageType>()
  /** Every message ever delivered (for assertions). */
  delivered: Message[] = []
  recordDelivered = false
  /** Optional filter: a message is dropped when it returns false. */
  filter: ((m: Message) => boolean) | undefined
  /** Messages handed to the network, by type. */
  sent = new Map<string, number>()

  constructor (voters: number[], readonly opts: NodeOptions = {}, learners: number[] = [], readonly seed = 1) {
    for (const id of [...voters, ...learners]) this.add(id, { voters, learners })
  }

  /** Create (or replace) node `id`; with `conf` undefined the node joins with no configuration. */
  add (id: number, conf?: { voters: number[], learners: number[] }, storage?: MemoryStorage, extra: Partial<RaftConfig> = {}): Peer {
    const st = storage ?? new MemoryStorage()
    const cfg: RaftConfig = { ...this.opts, ...extra, id, storage: st, rand: createRand(this.seed * 1000 + id) }
    if (conf !== undefined) cfg.peers = conf
    const p: Peer = { id, node: new RaftNode(cfg), storage: st, applied: [], committed: [], readStates: [], appliedIndex: 0, committedBatches: [] }
    this.peers.set(id, p)
    return p
  }

  peer (id: number): Peer {
    const p = this.peers.get(id)
    if (p === undefined) throw new Error(`no peer ${id}`)
    return p
  }

  node (id: number): RaftNode { return this.peer(id).node }

  /** Process one node's Ready per the contract: persist, send, apply, advance. */
  processReady (p: Peer): boolean {
    if (!p.node.hasReady()) return false
    const rd = p.node.ready()
    if (rd.snapshot !== undefined) {
      p.storage.applySnapshot(rd.snapshot)
      p.applied = JSON.parse(str(rd.snapshot.data)) as string[]
      p.appliedIndex = rd.snapshot.metadata.index
    }
    p.storage.append(rd.entries)
    if (rd.hardState !== undefined) p.storage.setHardState(rd.hardState)
    for (const m of rd.messages) {
      this.sent.set(m.type, (this.sent.get(m.type) ?? 0) + 1)
      this.queue.push(m)
    }
    if (rd.committedEntries.length > 0) p.committedBatches.push(rd.committedEntries.reduce((n, e) => n + e.data.length, 0))
    for (const e of rd.committedEntries) {
      p.committed.push(e)
      if (e.type === 'normal' && e.data.length > 0) p.applied.push(str(e.data))
      p.appliedIndex = e.index
    }
    for (const rs of rd.readStates) p.readStates.push(rs)
    p.node.advance(rd)
    return true
  }

  private blocked (m: Message): boolean {
    return (this.filter !== undefined && !this.filter(m)) || this.dropTypes.has(m.type) || this.cutLinks.has(`${m.from}-${m.to}`) || !this.peers.has(m.to)
  }

  /** Process Readies and deliver messages until quiescent. */
  stabilize (roundsMax = 10_000): void {
    for (let round = 0; round < roundsMax; round++) {
      let busy = false
      for (const p of this.peers.values()) if (this.processReady(p)) busy = true
      const q = this.queue
      this.queue = []
      for (const m of q) {
        if (this.blocked(m)) continue
        busy = true
        if (this.recordDelivered) this.delivered.push(m)
        this.peer(m.to).node.step(m)
      }
      if (!busy) return
    }
    throw new Error('network did not stabilize')
  }

  /** Tick every node (in id order) n times, stabilizing after each tick. */
  tick (n = 1, ids?: number[]): void {
    for (let i = 0; i < n; i++) {
      for (const p of this.peers.values()) if (ids === undefined || ids.includes(p.id)) p.node.tick()
      this.stabilize()
    }
  }

  /** Tick until some node is leader (bounded). */
  elect (id: number): void {
    this.node(id).campaign()
    this.stabilize()
  }

  cut (a: number, b: number): void {
    this.cutLinks.add(`${a}-${b}`)
    this.cutLinks.add(`${b}-${a}`)
  }

  isolate (id: number): void {
    for (const other of this.peers.keys()) if (other !== id) this.cut(id, other)
  }

  recover (): void {
    this.cutLinks.clear()
    this.dropTypes.clear()
    this.filter = undefined
  }

  leaders (): number[] {
    return [...this.peers.values()].filter(p => p.node.status().role === 'leader').map(p => p.id)
  }

  propose (id: number, data: string): void {
    this.node(id).propose(bytes(data))
    this.stabilize()
  }
}
