/**
 * Assembly of the libp2p node a peer runs on: transports (TCP, memory), Noise, Yamux, identify, ping,
 * bootstrap, kad-dht (namespaced by mesh, so meshes never share a DHT) and gossipsub with StrictNoSign (the
 * application signs each message: peers/seal.ts), plus
 * a connection gater that enforces the allowlist (O7) and the peer's block list (operator bans and the
 * live harness's partitions), and with a private-network key the pnet connection protector (peers/pnet.ts).
 */
import { createHash } from 'node:crypto'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { memory } from '@libp2p/memory'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, identifyPush } from '@libp2p/identify'
import { guardYamuxWindowUpdates } from './yamux-guard.js'
import { fastFrameDecoder } from './frame-decoder.js'
import { libp2pLogger } from './libp2p-logger.js'
import { ping } from '@libp2p/ping'
import { bootstrap } from '@libp2p/bootstrap'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { gossipsub } from '@libp2p/gossipsub'
import { preSharedKey } from '@libp2p/pnet'
import type { GossipSub } from '@libp2p/gossipsub'
import type { Identify } from '@libp2p/identify'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { InvalidOptionError } from '../src/base/errors.js'
import type { ResolvedPeerOptions } from './options.js'
import { syncProtocol } from './sync/anti-entropy/constants.js'
import { crdtTopic } from './sync/gossip/constants.js'
import { heartbeatTopic } from './sync/liveness/constants.js'

export interface AgoraServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  dht?: KadDHT
}

export type AgoraLibp2p = Libp2p<AgoraServices>

/** Protocol names of a mesh: every name carries the mesh, so peers of different meshes never mix. */
export function meshProtocols (mesh: string): { sync: string, kad: string, crdtTopic: string, heartbeatTopic: string } {
  return {
    sync: syncProtocol(mesh),
    kad: `/agora/${mesh}/kad/1.0.0`,
    crdtTopic: crdtTopic(mesh),
    heartbeatTopic: heartbeatTopic(mesh)
  }
}

/**
 * Peers refused by the gater: those outside the allowlist (if set) and those on a mutable block list.
 * The gater asks it before dialling a peer and once the Noise handshake of an inbound or outbound
 * connection has authenticated the remote peer id.
 */
export class PeerGate {
  readonly blocked = new Set<string>()
  private readonly allow: Set<string> | undefined

  constructor (allowlist: readonly string[] | undefined) {
    this.allow = allowlist !== undefined ? new Set(allowlist) : undefined
  }

  denies (peer: PeerId | string): boolean {
    const id = typeof peer === 'string' ? peer : peer.toString()
    if (this.blocked.has(id)) return true
    return this.allow !== undefined && !this.allow.has(id)
  }
}

/**
 * Gossipsub's message id: SHA-256 of the topic, a zero byte and the whole message. Gossipsub caches the id
 * as seen before the topic validator runs, so the id must not be craftable: a forged or tampered copy has
 * other bytes, hence another id, and never hides the valid message (a collision would take a SHA-256
 * collision). The topic is hashed too: the same bytes sent on another topic, where they are refused, do
 * not mark them seen on theirs.
 */
export function gossipMsgId (msg: { topic: string, data: Uint8Array }): Uint8Array {
  const h = createHash('sha256')
  h.update(msg.topic)
  h.update(ZERO_BYTE)
  h.update(msg.data)
  return h.digest()
}

const ZERO_BYTE = new Uint8Array(1)

/** IP addresses exempt from gossipsub's IP colocation penalty (as gossipsub prints them: exact match). */
export const LOOPBACK_IPS: readonly string[] = ['127.0.0.1', '::1']

let memoryCounter = 0

function defaultListen (o: ResolvedPeerOptions): string[] {
  const out: string[] = []
  if (o.transports.includes('tcp')) out.push('/ip4/127.0.0.1/tcp/0')
  if (o.transports.includes('memory')) out.push(`/memory/agora-${process.pid}-${Date.now().toString(36)}-${memoryCounter++}`)
  return out
}

export interface NodeInit {
  options: ResolvedPeerOptions
  privateKey: PrivateKey
  gate: PeerGate
  /** Max inbound gossip message size (a signed update plus framing). */
  gossipBytesMax: number
}

export async function createNode (init: NodeInit): Promise<AgoraLibp2p> {
  guardYamuxWindowUpdates()
  fastFrameDecoder()
  const o = init.options
  const protocols = meshProtocols(o.mesh)
  const listen = o.listen ?? defaultListen(o)
  for (const a of listen) {
    if (a.startsWith('/memory/') && !o.transports.includes('memory')) throw new InvalidOptionError('listen', `${a} needs the 'memory' transport`)
    if (a.includes('/tcp/') && !o.transports.includes('tcp')) throw new InvalidOptionError('listen', `${a} needs the 'tcp' transport`)
  }
  const gate = init.gate
  const services: Record<string, unknown> = {
    identify: identify(),
    // Tell connected peers at once when this peer starts serving a protocol (Raft client path, auctions).
    identifyPush: identifyPush(),
    ping: ping(),
    pubsub: gossipsub({
      globalSignaturePolicy: 'StrictNoSign',
      allowPublishToZeroTopicPeers: true,
      emitSelf: false,
      doPX: false,
      fallbackToFloodsub: false,
      maxInboundDataLength: init.gossipBytesMax,
      // Gossipsub's IP colocation penalty (P6: -5 x surplus² for each peer beyond
      // IPColocationFactorThreshold peers from one IP; default 10) scores every peer of a machine running
      // many peers negative once 11 of them are connected here (out of our mesh), below the publish
      // threshold (-50) at 14 and the graylist threshold (-80) at 15: this peer then drops their messages
      // and publishes to none of them, while they stay connected (the live harness's peer 0, dialled by
      // all, heard nobody at 16 peers). Peers reaching us over loopback run on this
      // machine, where the penalty defends against nothing; others keep it, from `gossipPeersPerIpMax`.
      scoreParams: {
        IPColocationFactorThreshold: o.gossipPeersPerIpMax,
        IPColocationFactorWhitelist: new Set(LOOPBACK_IPS)
      },
      // Heartbeats of our own are frequent; keep gossipsub's message cache modest.
      seenTTL: 2 * 60_000,
      // Gossipsub signs nothing (StrictNoSign): every message carries an application signature that its
      // topic validator verifies before accepting or forwarding it (peers/seal.ts; document updates carry
      // their host's signature). Gossipsub's message id hashes what identifies the message: see gossipMsgId.
      msgIdFn: gossipMsgId
    })
  }
  if (o.dht) {
    services.dht = kadDHT({
      protocol: protocols.kad,
      clientMode: false,
      peerInfoMapper: passthroughMapper
    })
  }
  const logger = libp2pLogger()
  const node = await createLibp2p({
    privateKey: init.privateKey,
    start: false,
    ...(logger !== undefined ? { logger } : {}),
    addresses: { listen },
    transports: [
      ...(o.transports.includes('tcp') ? [tcp()] : []),
      ...(o.transports.includes('memory') ? [memory()] : [])
    ],
    // The private network's key wraps every connection before Noise: without the key, no handshake.
    ...(o.privateNetworkKey !== undefined ? { connectionProtector: preSharedKey({ psk: new TextEncoder().encode(o.privateNetworkKey) }) } : {}),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: o.bootstrap.length > 0 ? [bootstrap({ list: o.bootstrap, timeout: 0 })] : [],
    connectionManager: {
      maxConnections: o.connectionsMax,
      inboundConnectionThreshold: o.inboundConnectionsPerSecondMax,
      maxIncomingPendingConnections: 64,
      dialTimeout: 10_000
    },
    connectionGater: {
      denyDialPeer: (peer) => gate.denies(peer),
      denyInboundEncryptedConnection: (peer) => gate.denies(peer),
      denyOutboundEncryptedConnection: (peer) => gate.denies(peer),
      // Loopback and private addresses are how local meshes talk; don't filter them.
      denyDialMultiaddr: () => false
    },
    services: services as never
  })
  return node as unknown as AgoraLibp2p
}
