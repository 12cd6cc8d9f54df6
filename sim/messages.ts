/**
 * Direct agent-to-agent messages between simulated hosts (the `message` verb; issue 13 "Messaging":
 * `send(agentId, message)`, at most once, acknowledged by the host), over the simulated network with its
 * latency, drops, duplicates, partitions and crashes. A model of the peers' transport, checked:
 *
 * - the sender's host sends the message once (no retry: at most once); the receiving host delivers it to
 *   its agent and answers with an ack; the sender sees it `acked` when the ack comes back to the same
 *   process (boot) that sent it, else `timeout` once its `timeoutMs` passed (delivered or not: unknown);
 * - a receiving process delivers a message id once (a network duplicate is acked again, not delivered),
 *   and never a message sent before it started (a duplicate in flight across its restart).
 *
 * Checkers (violations, in every run that sends messages):
 * - `message-at-most-once`: a message is delivered to its agent at most once;
 * - `message-partition`: a message is never delivered while its hosts are cut off from each other, nor
 *   when they were at the time it was sent (the transport fails such a send: it never buffers it for
 *   later), and never acked without being delivered.
 */
import type { MeshWire, Simulation } from './simulation.js'
import { MESSAGE_TIMEOUT_MS_DEFAULT } from './scenario.js'

/** Messages remembered (sent and checked); the oldest forgotten beyond it. */
export const MESSAGES_MAX = 100_000
/** Message ids one receiving process remembers for duplicates (the oldest forgotten beyond it). */
export const MESSAGE_SEEN_MAX = 100_000

export type MessageStatus = 'sent' | 'acked' | 'timeout' | 'refused'

export interface SimMessage {
  id: number
  label: string
  from: string
  to: string
  fromNode: number
  toNode: number
  sentAt: number
  timeoutMs: number
  /** The sender's process (boot) that sent it. */
  boot: number
  status: MessageStatus
  /** Deliveries to the receiving agent (more than one is a violation). */
  deliveries: number
  deliveredAt?: number
  /** The hosts were cut off from each other when it was sent. */
  blockedAtSend: boolean
}

export class MessageBus {
  readonly messages = new Map<number, SimMessage>()
  /** Messages waiting for their ack (status `sent`). */
  private readonly waiting = new Set<SimMessage>()
  /** Per node: the process (boot) and the message ids it delivered. */
  private readonly seen: Array<{ boot: number, ids: Set<number> }> = []
  private counter = 0

  constructor (private readonly sim: Simulation, private readonly hostOf: (agent: string) => number | undefined) {
    for (let i = 0; i < sim.size; i++) this.seen.push({ boot: -1, ids: new Set() })
    sim.onMesh((to, w, at) => { this.receive(to, w, at) })
  }

  /** Agent `from` sends agent `to` a message now (refused when either is unknown or the sender's host is down). */
  send (label: string, from: string, to: string, timeoutMs = MESSAGE_TIMEOUT_MS_DEFAULT): SimMessage {
    const fromNode = this.hostOf(from) ?? 0
    const toNode = this.hostOf(to) ?? 0
    const m: SimMessage = { id: ++this.counter, label, from, to, fromNode, toNode, sentAt: this.sim.now, timeoutMs, boot: 0, status: 'refused', deliveries: 0, blockedAtSend: false }
    if (this.messages.size >= MESSAGES_MAX) this.messages.delete(this.messages.keys().next().value!)
    this.messages.set(m.id, m)
    if (fromNode === 0 || toNode === 0 || this.sim.isCrashed(fromNode)) return m
    m.status = 'sent'
    this.waiting.add(m)
    m.boot = this.sim.bootsOf(fromNode)
    m.blockedAtSend = fromNode !== toNode && !this.sim.net.allows(fromNode, toNode)
    this.transmit(m)
    return m
  }

  /** Put message `m` on the wire (a host sending to itself delivers at once). */
  protected transmit (m: SimMessage): void {
    const w: MeshWire = { mesh: 'msg', id: m.id, from: m.fromNode, to: m.toNode, sentAt: m.sentAt, boot: m.boot }
    if (m.fromNode === m.toNode) this.receive(m.toNode, w, this.sim.now)
    else this.sim.sendMesh(m.fromNode, m.toNode, w)
  }

  /** Called after every tick round: senders give up on messages not acked in time. */
  tick (): void {
    for (const m of this.waiting) {
      if (m.status !== 'sent') this.waiting.delete(m)
      else if (this.sim.now >= m.sentAt + m.timeoutMs) { m.status = 'timeout'; this.waiting.delete(m); this.sim.trace.add(`message-timeout ${m.id}`) }
    }
  }

  private receive (to: number, w: MeshWire, at: number): void {
    const m = this.messages.get(w.id)
    if (m === undefined) return
    if (w.mesh === 'ack') {
      // The sending process learns it, if it is still the one that sent it and has not given up.
      if (m.status === 'sent' && this.sim.bootsOf(to) === m.boot) {
        m.status = 'acked'
        if (m.deliveries === 0) this.sim.checker.report('message-partition', `message ${m.label} (${m.from} -> ${m.to}) acked but never delivered`)
      }
      return
    }
    const seen = this.seen[to - 1] as { boot: number, ids: Set<number> }
    const boot = this.sim.bootsOf(to)
    if (seen.boot !== boot) { seen.boot = boot; seen.ids.clear() }
    if (w.sentAt < this.sim.bootedAt(to)) return
    if (this.accept(seen.ids, w.id)) this.deliver(m, at)
    if (to !== m.fromNode) this.sim.sendMesh(to, m.fromNode, { ...w, mesh: 'ack', from: to, to: m.fromNode })
    else if (m.status === 'sent') m.status = 'acked'
  }

  /** Whether the receiving process delivers message `id` (not a duplicate of one it delivered). */
  protected accept (ids: Set<number>, id: number): boolean {
    if (ids.has(id)) return false
    if (ids.size >= MESSAGE_SEEN_MAX) ids.delete(ids.values().next().value!)
    ids.add(id)
    return true
  }

  private deliver (m: SimMessage, at: number): void {
    m.deliveries++
    m.deliveredAt ??= at
    this.sim.trace.add(`message-delivered ${m.id} ${m.to}`)
    if (m.deliveries > 1) this.sim.checker.report('message-at-most-once', `message ${m.label} (${m.from} -> ${m.to}) delivered ${m.deliveries} times`)
    if (m.fromNode !== m.toNode && (m.blockedAtSend || !this.sim.net.allows(m.fromNode, m.toNode))) {
      this.sim.checker.report('message-partition', `message ${m.label} (${m.from}@n${m.fromNode} -> ${m.to}@n${m.toNode}) delivered at ${at} ms across a partition${m.blockedAtSend ? ' (cut off when it was sent)' : ''}`)
    }
  }
}

