/**
 * The raw baseline of the in-process mesh benches: bare libp2p nodes (memory transport, Noise, Yamux,
 * identify, gossipsub on two topics) dialled in the shape of createLiveMesh (each new node dials node 0
 * and up to LINKS - 1 random earlier ones), each publishing a 64-byte message on the heartbeat topic every
 * `heartbeatMs`, as our heartbeats are. Gossipsub signs (StrictSign, its default): the raw stack
 * authenticates each message's author once, as ours does with its application signature.
 */
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import { createRand } from '../../src/base/prng.js'

export const RAW_LINKS = 4
export const RAW_HEARTBEAT_TOPIC = 'raw/heartbeat'
export const RAW_CRDT_TOPIC = 'raw/crdt'

export interface RawMesh {
  readonly nodes: Libp2p[]
  pubsub: (i: number) => GossipSub
  stop: () => Promise<void>
}

/**
 * Creates `n` raw nodes one after the other. `shouldStop(i)` is asked before node i is created (a
 * deadline); then the mesh holds the nodes made so far and `created` says how many.
 */
export async function createRawMesh (n: number, opts: { tag: string, heartbeatMs: number, shouldStop?: (i: number) => boolean, onNode?: (i: number) => void }): Promise<RawMesh & { created: number }> {
  const nodes: Libp2p[] = []
  const timers: Array<ReturnType<typeof setInterval>> = []
  const rand = createRand(1)
  const pubsub = (i: number): GossipSub => nodes[i]!.services.pubsub as unknown as GossipSub
  const stop = async (): Promise<void> => {
    for (const t of timers) clearInterval(t)
    await Promise.allSettled(nodes.map(async x => { await x.stop() }))
  }
  try {
    for (let i = 0; i < n; i++) {
      if (opts.shouldStop?.(i) === true) return { nodes, pubsub, stop, created: i }
      opts.onNode?.(i)
      const node = await createLibp2p({
        addresses: { listen: [`/memory/raw-${opts.tag}-${process.pid}-${n}-${i}`] },
        transports: [memory()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        connectionManager: { maxConnections: 1000, inboundConnectionThreshold: 10_000, dialTimeout: 10_000 },
        services: { identify: identify(), pubsub: gossipsub({ globalSignaturePolicy: 'StrictSign', allowPublishToZeroTopicPeers: true, emitSelf: false }) }
      })
      nodes.push(node)
      const ps = pubsub(i)
      ps.subscribe(RAW_HEARTBEAT_TOPIC)
      ps.subscribe(RAW_CRDT_TOPIC)
      const payload = new Uint8Array(64)
      const t = setInterval(() => { ps.publish(RAW_HEARTBEAT_TOPIC, payload).catch(() => {}) }, opts.heartbeatMs)
      timers.push(t)
      const targets = new Set<number>()
      if (i > 0) targets.add(0)
      const earlier = Array.from({ length: i }, (_, k) => k)
      while (targets.size < Math.min(RAW_LINKS, i) && earlier.length > 0) targets.add(earlier.splice(rand.int(earlier.length), 1)[0]!)
      for (const k of targets) await node.dial(nodes[k]!.getMultiaddrs()[0]!).catch(() => {})
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { nodes, pubsub, stop, created: n }
}
