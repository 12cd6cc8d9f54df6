/**
 * Membership: which peers are mesh members. A member is a peer that speaks the mesh's anti-entropy
 * protocol, learnt from identify (or from the peer store, for connections open before the start). The
 * service emits `member:joined` / `member:left`, lists the connected members, dials peers found by
 * discovery while below `connectionsTarget`, and tells registered topologies (like js-libp2p's
 * registrar topologies) when a member connects or leaves.
 *
 * @example
 * ```ts
 * const membership = createMembership({ node, health, gate, logger }, { mesh: 'agora' })
 * membership.on('member:joined', ({ peerId }) => { console.log('joined', peerId) })
 * const off = membership.register({ onConnect: (peerId, { dialer }) => {}, onDisconnect: (peerId) => {} })
 * await membership.start()
 * membership.connectedMembers() // ['12D3Koo...']
 * ```
 */
import type { TypedEmitter } from '../../../src/base/events.js'
import type { Logger } from '../../../src/base/log.js'
import type { AgoraLibp2p, PeerGate } from '../../node.js'
import type { SyncHealthTable } from '../health.js'
import { MembershipService } from './membership.js'

export { memberProtocol, DEFAULT_CONNECTIONS_TARGET } from './constants.js'
export { MembershipService } from './membership.js'

export interface MembershipEvents extends Record<string, unknown> {
  'member:joined': { peerId: string }
  'member:left': { peerId: string }
}

/** Callbacks of a service that acts on members coming and going (see {@link Membership.register}). */
export interface MemberTopology {
  /**
   * A member connected or was identified again (after `member:joined` if it just joined). `dialer`: this
   * side opened the connection (or the connection predates the start).
   */
  onConnect?: (peerId: string, info: { dialer: boolean }) => void
  /** A member's last connection closed (before `member:left`). */
  onDisconnect?: (peerId: string) => void
}

export interface Membership extends TypedEmitter<MembershipEvents> {
  /** Connected mesh members. */
  connectedMembers: () => string[]
  isMember: (peerId: string) => boolean
  /** A connected member picked at random, if any. */
  randomMember: () => string | undefined
  /**
   * Connections to `peerId` are a liveness probe's, closed right after it (peers/sync/liveness/probe.ts):
   * until they close (or {@link releaseTransient}), `peerId` is not a connected member and no topology is
   * told of it connecting or leaving (no anti-entropy exchange, no indirect probe when it closes). At most
   * `TRANSIENT_MAX` peers at once (beyond: not marked, returns false).
   */
  markTransient: (peerId: string) => boolean
  /** Ends {@link markTransient}: a connection still open (kept as a link) makes `peerId` a member again. */
  releaseTransient: (peerId: string) => void
  /** Calls `topology` on members connecting and leaving until the returned function is called. */
  register: (topology: MemberTopology) => () => void
  /** Takes in the members already connected when the service started (identify ran before). */
  adoptExistingConnections: () => void
  /** Identify results that came back for a connection already closed (not taken for a member). */
  readonly stats: { identifiedClosed: number }
  /** Listens to the node (idempotent). */
  start: () => Promise<void>
  /** Stops listening; every peer is then disconnected, without `member:left` (idempotent). */
  stop: () => Promise<void>
}

export interface MembershipInit {
  /** Mesh whose anti-entropy protocol marks members. Default 'agora'. */
  mesh?: string
  /** Dial peers found by discovery while connected to fewer than this many. Default 16. */
  connectionsTarget?: number
}

export interface MembershipComponents {
  node: Pick<AgoraLibp2p, 'peerId' | 'addEventListener' | 'removeEventListener' | 'getConnections' | 'peerStore' | 'dial'>
  /** Marked connected / disconnected here. */
  health: SyncHealthTable
  /** Discovered peers it denies are not dialled. */
  gate: Pick<PeerGate, 'denies'>
  logger: Logger
}

export function createMembership (components: MembershipComponents, init: MembershipInit = {}): Membership {
  return new MembershipService(components, init)
}
