/**
 * Shared setup of the coordination tests over TCP: a live mesh whose first `voters` peers run the Raft
 * group and whose other `clients` peers stay outside it, and a shared in-process history of timestamped
 * facts (every peer runs in this process, so one clock orders what each of them saw).
 */
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh, LiveMeshOptions } from '../../sim/live.js'
import type { CoordEvent } from '../../protocols/coordination/types.js'
import type { Peer } from '../../peers/peer.js'
import { waitUntil } from '../helpers/wait.js'
import { peerIdFromString } from '@libp2p/peer-id'

/** Election timeout 200–400 ms (tick 20 ms × 10): what the other live tests use. */
export const RAFT_TUNING = { tickMs: 20, electionTick: 10 }

/** The group sizes the tests run with. */
export const VOTER_COUNTS = [3, 5] as const

/** A mesh of `voters` Raft members (peers 0..voters-1) and `clients` peers outside the group, with a leader. */
export async function coordMesh (voters: number, clients: number, extra: Partial<LiveMeshOptions> = {}): Promise<LiveMesh> {
  const m = await createLiveMesh({ peers: voters + clients, logLevel: 'silent', heartbeatIntervalMs: 200, raft: { voters, ...RAFT_TUNING }, ...extra })
  try {
    await m.waitForLeader({ timeoutMs: 30_000 })
    // Clients reach the group through members whose client protocol they learnt (identify): wait for all.
    const voterIds = m.peers.slice(0, voters).map(p => p.id)
    await waitUntil(async () => {
      for (const c of m.peers.slice(voters)) {
        for (const id of voterIds) {
          const known = await c.libp2p.peerStore.get(peerIdFromString(id)).catch(() => undefined)
          if (known?.protocols.some(x => x.includes('/raft-client/')) !== true) return false
        }
      }
      return true
    }, { what: 'clients that know every member serves the client path', timeoutMs: 30_000 })
  } catch (err) {
    await m.stop()
    throw err
  }
  return m
}

/** Index of a running voter that is not the Raft leader (the lowest such index). */
export function followerIndex (m: LiveMesh, voters: number, except: number[] = []): number {
  const leader = m.leader()
  for (let i = 0; i < voters; i++) if (i !== leader && !except.includes(i) && m.peers[i]!.started) return i
  throw new Error('no follower voter')
}

/** One fact of a shared history: what happened, on which peer, when (ms on this process's clock). */
export interface Fact { what: string, peer: number, at: number, detail?: unknown }

export class History {
  readonly facts: Fact[] = []
  /** Records `what` on `peer` now; returns the fact. */
  add (what: string, peer: number, detail?: unknown): Fact {
    const f: Fact = { what, peer, at: performance.now(), ...(detail !== undefined ? { detail } : {}) }
    this.facts.push(f)
    return f
  }

  first (what: string): Fact | undefined { return this.facts.find(f => f.what === what) }

  /** The history as lines, for assertion messages. */
  toString (): string {
    const t0 = this.facts[0]?.at ?? 0
    return this.facts.map(f => `${(f.at - t0).toFixed(1)} ms  peer ${f.peer}  ${f.what}${f.detail !== undefined ? ` ${JSON.stringify(f.detail)}` : ''}`).join('\n')
  }
}

/** The error code a promise rejects with (undefined when it resolves). */
export async function codeOf (p: Promise<unknown>): Promise<string | undefined> {
  try { await p; return undefined } catch (err) { return (err as { code?: string }).code ?? `not a named error: ${String(err)}` }
}

/** The coordination events a member peer sees from its replica, in log order, until the returned stop. */
export function recordEvents (p: Peer): { events: CoordEvent[], stop: () => void } {
  const events: CoordEvent[] = []
  const stop = p.coordination.on('coord:event', (e) => { events.push(e) })
  return { events, stop }
}

/** Waits until lock `name` has at least `n` waiters in the group (read linearizably through `p`). */
export async function waitWaiters (p: Peer, name: string, n: number): Promise<void> {
  await waitUntil(async () => ((await p.coordination.lockState(name))?.waiters.length ?? 0) >= n, { what: `${n} waiter(s) on lock ${name}`, timeoutMs: 30_000, intervalMs: 50 })
}
