/**
 * The leader's ReadIndex bookkeeping (thesis §6.4; the role of etcd/raft's read_only.go): read
 * requests waiting for a heartbeat quorum, in arrival order and by context, with the voters that
 * acknowledged each; and the requests held back until the leader commits an entry of its term.
 * It decides nothing about leadership and sends nothing: RaftNode asks and answers.
 */
import { hasQuorum } from './quorum.js'
import type { Message, NodeId } from './types.js'

/** A read waiting for a heartbeat quorum: served at `index` once a majority acknowledged `ctx`. */
export interface ReadRequest {
  /** The leader's commit index when the request arrived. */
  index: number
  /** The requester (the leader itself for a local read). */
  from: NodeId
  ctx: Uint8Array
  /** Nodes that acknowledged a heartbeat carrying `ctx` (the leader counts from the start). */
  acks: Set<NodeId>
}

const NOTHING: readonly ReadRequest[] = []

function ctxKey (ctx: Uint8Array): string {
  let s = ''
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i]!)
  return s
}

export class ReadOnly {
  // Invariant: `queue` and `byCtx` hold the same requests (queue in arrival order); queue.length <= readsMax.
  private readonly queue: ReadRequest[] = []
  private readonly byCtx = new Map<string, ReadRequest>()
  /** ReadIndex requests received before this leader committed an entry of its term. Invariant: length <= readsMax. */
  private held: Message[] = []

  constructor (private readonly readsMax: number) {}

  /** No more requests fit in the queue. */
  full (): boolean {
    return this.queue.length >= this.readsMax
  }

  /**
   * Queue a read at `index` acknowledged so far by `self`. Returns false (and queues nothing) when a
   * request with the same context is already pending. The caller checks {@link full} first.
   */
  add (index: number, from: NodeId, ctx: Uint8Array, self: NodeId): boolean {
    const key = ctxKey(ctx)
    if (this.byCtx.has(key)) return false
    const req: ReadRequest = { index, from, ctx, acks: new Set([self]) }
    this.byCtx.set(key, req)
    this.queue.push(req)
    return true
  }

  /**
   * Record that `from` acknowledged a heartbeat carrying `ctx`. Acks from outside `voters` are ignored.
   * Once a majority of `voters` acknowledged it, that request and every one queued before it are
   * removed and returned in order (a later quorum also confirms earlier reads); else none.
   */
  recvAck (from: NodeId, ctx: Uint8Array, voters: readonly NodeId[]): readonly ReadRequest[] {
    const req = this.byCtx.get(ctxKey(ctx))
    if (req === undefined || !voters.includes(from)) return NOTHING
    req.acks.add(from)
    if (!hasQuorum(voters, v => req.acks.has(v))) return NOTHING
    const released = this.queue.splice(0, this.queue.indexOf(req) + 1)
    for (const r of released) this.byCtx.delete(ctxKey(r.ctx))
    return released
  }

  /** The context of the newest pending read (heartbeats carry it so that their acks confirm it). */
  lastPendingCtx (): Uint8Array | undefined {
    return this.queue.length > 0 ? this.queue[this.queue.length - 1]!.ctx : undefined
  }

  /** Hold a request until the leader commits an entry of its term; false when the hold is full. */
  hold (m: Message): boolean {
    if (this.held.length >= this.readsMax) return false
    this.held.push(m)
    return true
  }

  hasHeld (): boolean {
    return this.held.length > 0
  }

  /** Take every held request, oldest first. */
  takeHeld (): Message[] {
    const held = this.held
    this.held = []
    return held
  }

  /** Forget everything (a new term or role). */
  reset (): void {
    this.queue.length = 0
    this.byCtx.clear()
    this.held = []
  }
}
