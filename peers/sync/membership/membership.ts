import type { Connection, PeerId } from '@libp2p/interface'
import { TypedEmitter } from '../../../src/base/events.js'
import type { Logger } from '../../../src/base/log.js'
import type { SyncHealthTable } from '../health.js'
import { DEFAULT_MESH } from '../constants.js'
import { DEFAULT_CONNECTIONS_TARGET, memberProtocol } from './constants.js'
import type { MemberTopology, Membership, MembershipComponents, MembershipEvents, MembershipInit } from './index.js'

/** Peers marked transient at once ({@link MembershipService.markTransient}). */
export const TRANSIENT_MAX = 64

export class MembershipService extends TypedEmitter<MembershipEvents> implements Membership {
  private readonly node: MembershipComponents['node']
  private readonly health: SyncHealthTable
  private readonly gate: MembershipComponents['gate']
  private readonly log: Logger
  private readonly protocol: string
  private readonly connectionsTarget: number
  private readonly selfId: string
  readonly stats = { identifiedClosed: 0 }
  /** Connected mesh members. */
  private readonly members = new Set<string>()
  private readonly topologies = new Set<MemberTopology>()
  /** Peers whose connections are a probe's (not member connections). */
  private readonly transient = new Set<string>()
  private readonly nodeListeners: Array<[string, (e: CustomEvent<any>) => void]> = []
  private running = false

  constructor (components: MembershipComponents, init: MembershipInit = {}) {
    super()
    this.node = components.node
    this.health = components.health
    this.gate = components.gate
    this.log = components.logger
    this.protocol = memberProtocol(init.mesh ?? DEFAULT_MESH)
    this.connectionsTarget = init.connectionsTarget ?? DEFAULT_CONNECTIONS_TARGET
    this.selfId = components.node.peerId.toString()
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.listen('peer:identify', (e) => {
      const r = e.detail as { peerId: PeerId, protocols: string[], connection?: Connection }
      // Identify can finish after its connection closed: a probe's transient dial, hung up (and released)
      // before its identify came back, would otherwise make a member of a peer with no connection, and
      // its first anti-entropy exchange would dial it again (a full exchange per probe dial).
      if (r.connection !== undefined && r.connection.status !== 'open') { this.stats.identifiedClosed++; return }
      if (r.protocols.includes(this.protocol)) this.memberConnected(r.peerId.toString(), r.connection?.direction !== 'inbound')
    })
    this.listen('peer:disconnect', (e) => {
      const id = (e.detail as PeerId).toString()
      this.transient.delete(id)
      this.memberDisconnected(id)
    })
    this.listen('peer:discovery', (e) => { this.onDiscovery(e.detail as { id: PeerId }) })
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    for (const [name, fn] of this.nodeListeners) this.node.removeEventListener(name as 'peer:connect', fn as never)
    this.nodeListeners.length = 0
    for (const s of this.health.values()) { s.health.connected = false; s.syncedSinceConnect = false }
    this.members.clear()
  }

  adoptExistingConnections (): void {
    for (const c of this.node.getConnections()) {
      const id = c.remotePeer.toString()
      void this.node.peerStore.get(c.remotePeer).then((p) => {
        if (p.protocols.includes(this.protocol)) this.memberConnected(id)
      }, () => {})
    }
  }

  markTransient (peerId: string): boolean {
    if (this.transient.has(peerId)) return true
    if (this.transient.size >= TRANSIENT_MAX) return false
    this.transient.add(peerId)
    // Already taken for a member (identify ran first): dropped quietly, its topologies not told.
    if (this.members.delete(peerId)) {
      const s = this.health.peek(peerId)
      if (s !== undefined) s.health.connected = false
    }
    return true
  }

  releaseTransient (peerId: string): void {
    if (!this.transient.delete(peerId) || !this.running) return
    const id = this.node.getConnections().find(c => c.remotePeer.toString() === peerId)?.remotePeer
    if (id === undefined) return
    void this.node.peerStore.get(id).then((p) => {
      if (p.protocols.includes(this.protocol) && this.node.getConnections(id).length > 0) this.memberConnected(peerId)
    }, () => {})
  }

  register (topology: MemberTopology): () => void {
    this.topologies.add(topology)
    return () => { this.topologies.delete(topology) }
  }

  connectedMembers (): string[] {
    return [...this.members]
  }

  isMember (peerId: string): boolean {
    return this.members.has(peerId)
  }

  randomMember (): string | undefined {
    if (this.members.size === 0) return undefined
    let i = Math.floor(Math.random() * this.members.size)
    for (const m of this.members) if (i-- === 0) return m
    return undefined
  }

  private listen (name: string, fn: (e: CustomEvent<any>) => void): void {
    this.node.addEventListener(name as 'peer:connect', fn as never)
    this.nodeListeners.push([name, fn])
  }

  private memberConnected (peerId: string, dialer = true): void {
    if (!this.running || peerId === this.selfId || this.transient.has(peerId)) return
    const s = this.health.get(peerId)
    if (!this.members.has(peerId)) {
      this.members.add(peerId)
      s.health.connected = true
      s.syncedSinceConnect = false
      this.emit('member:joined', { peerId })
    }
    for (const t of [...this.topologies]) t.onConnect?.(peerId, { dialer })
  }

  private memberDisconnected (peerId: string): void {
    if (!this.members.delete(peerId)) return
    const s = this.health.peek(peerId)
    if (s !== undefined) { s.health.connected = false; s.syncedSinceConnect = false }
    for (const t of [...this.topologies]) t.onDisconnect?.(peerId)
    this.emit('member:left', { peerId })
  }

  private onDiscovery (info: { id: PeerId }): void {
    if (!this.running) return
    const id = info.id.toString()
    if (id === this.selfId || this.gate.denies(id)) return
    if (this.node.getConnections().length >= this.connectionsTarget) return
    if (this.node.getConnections(info.id).length > 0) return
    this.node.dial(info.id).catch((err: Error) => { this.log.debug('dial of discovered peer failed', { peer: id, error: err.message }) })
  }
}
