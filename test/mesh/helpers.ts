import type { Peer } from '../../peers/peer.js'
import type { LiveMesh } from '../../sim/live.js'

/** What a peer's registry holds, as comparable strings. */
export function registryView (p: Peer): string[] {
  return [...p.registry.index.values()]
    .map(a => `${a.id}@${a.host.slice(-6)}:${a.health}:${a.capabilities.join('+')}:${JSON.stringify(a.metadata)}`)
    .sort()
}

/** Waits until every peer (or those listed) shows the same registry, and returns it. */
export async function waitConverged (mesh: LiveMesh, opts: { indexes?: number[], timeoutMs?: number, size?: number } = {}): Promise<string[]> {
  const idx = opts.indexes ?? mesh.peers.map((_, i) => i)
  const first = mesh.peers[idx[0]!]!
  await mesh.waitFor((p, i) => {
    if (!idx.includes(i)) return true
    const a = registryView(p)
    if (opts.size !== undefined && a.length !== opts.size) return false
    return JSON.stringify(a) === JSON.stringify(registryView(first))
  }, { timeoutMs: opts.timeoutMs ?? 20_000, what: 'registries to converge' })
  return registryView(first)
}

/** Fast liveness timings for tests (ms). */
export const FAST = { heartbeatIntervalMs: 100, antiEntropyIntervalMs: 500, logLevel: 'silent' as const }
