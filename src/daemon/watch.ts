/**
 * What an operator needs to see of a running daemon, without asking: the events that matter logged at
 * info (connections, members, Raft roles and leaders), bootstrap peers dialled until they answer (each
 * failure logged), and the conditions that point at a misconfiguration turned into warnings once they
 * have lasted `warnAfterMs`: logged once when they start and once when they clear, and listed in
 * `GET /v1/status` (`warnings`) and so in `agora status`.
 *
 * | code | condition |
 * |---|---|
 * | `WARN_NO_PEERS` | a bootstrap list is configured and no peer is connected |
 * | `WARN_BOOTSTRAP_UNREACHABLE` | some bootstrap peers are not connected and their last dial failed |
 * | `WARN_MESH_NOT_SHARED` | peers are connected but none is a member of this daemon's mesh (another mesh name?) |
 * | `WARN_RAFT_VOTERS_NOT_CONNECTED` | Raft voters other than this daemon are not connected |
 * | `WARN_RAFT_NO_LEADER` | this daemon runs Raft and knows no leader |
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { Logger } from '../base/log.js'
import type { Peer } from '../../peers/peer.js'

/** Period of the checks (at most; shorter when `warnAfterMs` is short). */
export const WATCH_CHECK_MS = 500
/** First and longest delay between two dials of a bootstrap peer that is not connected. */
export const BOOTSTRAP_REDIAL_MS_MIN = 1000
export const BOOTSTRAP_REDIAL_MS_MAX = 60_000
/** A dial of a bootstrap peer gives up after this long. */
export const BOOTSTRAP_DIAL_TIMEOUT_MS = 10_000
/** Connection changes within this long are logged as one "connected to N peers" line. */
export const CONNECTIONS_LOG_DEBOUNCE_MS = 1000

export type WarningCode = 'WARN_NO_PEERS' | 'WARN_BOOTSTRAP_UNREACHABLE' | 'WARN_MESH_NOT_SHARED' | 'WARN_RAFT_VOTERS_NOT_CONNECTED' | 'WARN_RAFT_NO_LEADER'

export interface DaemonWarning {
  code: WarningCode
  message: string
  /** When the condition started (ISO time). */
  since: string
  details: Record<string, unknown>
}

export interface DaemonWatchInit {
  peer: Peer
  log: Logger
  /** A condition becomes a warning after lasting this long. */
  warnAfterMs: number
  bootstrap: readonly string[]
  now?: () => number
}

interface Condition { since: number, message: string, details: Record<string, unknown>, active: boolean }
interface Bootstrap { address: string, peerId: string | undefined, nextDialAt: number, delayMs: number, dialing: boolean, lastError?: string, attempts: number }

export class DaemonWatch {
  private readonly peer: Peer
  private readonly log: Logger
  private readonly warnAfterMs: number
  private readonly now: () => number
  private readonly conditions = new Map<WarningCode, Condition>()
  private readonly bootstrap: Bootstrap[]
  private readonly offs: Array<() => void> = []
  private timer: ReturnType<typeof setInterval> | undefined
  private connectionsTimer: ReturnType<typeof setTimeout> | undefined
  private loggedConnections = 0
  private lastLeader: string | undefined
  private raftWatched = false
  private checking = false
  private readonly startedAt: number

  constructor (init: DaemonWatchInit) {
    this.peer = init.peer
    this.log = init.log
    this.warnAfterMs = init.warnAfterMs
    this.now = init.now ?? Date.now
    this.startedAt = this.now()
    this.bootstrap = init.bootstrap.map(address => {
      let peerId: string | undefined
      try { peerId = multiaddr(address).getComponents().find(c => c.name === 'p2p')?.value } catch {}
      return { address, peerId, nextDialAt: this.now() + BOOTSTRAP_REDIAL_MS_MIN, delayMs: BOOTSTRAP_REDIAL_MS_MIN, dialing: false, attempts: 0 }
    })
  }

  /** Starts the checks and the event logs (idempotent). */
  start (): void {
    if (this.timer !== undefined) return
    const { peer, log } = this
    const connectionsChanged = (): void => {
      if (this.connectionsTimer !== undefined) return
      this.connectionsTimer = setTimeout(() => {
        this.connectionsTimer = undefined
        const n = peer.libp2p.getPeers().length
        if (n !== this.loggedConnections) log.info(`connected to ${n} peer${n === 1 ? '' : 's'}`, { peers: n, members: peer.members().length })
        this.loggedConnections = n
      }, CONNECTIONS_LOG_DEBOUNCE_MS)
      this.connectionsTimer.unref()
    }
    this.offs.push(peer.on('connection:opened', connectionsChanged))
    this.offs.push(peer.on('connection:closed', connectionsChanged))
    this.offs.push(peer.on('member:joined', ({ peerId }) => { log.info('member joined', { peerId }) }))
    this.offs.push(peer.on('member:left', ({ peerId }) => { log.info('member left', { peerId }) }))
    this.watchRaft()
    this.timer = setInterval(() => { void this.check() }, Math.max(50, Math.min(WATCH_CHECK_MS, Math.floor(this.warnAfterMs / 2))))
    this.timer.unref()
  }

  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    if (this.connectionsTimer !== undefined) clearTimeout(this.connectionsTimer)
    this.connectionsTimer = undefined
    for (const off of this.offs.splice(0)) off()
  }

  /** The conditions that have lasted `warnAfterMs`. */
  warnings (): DaemonWarning[] {
    const out: DaemonWarning[] = []
    for (const [code, c] of this.conditions) {
      if (c.active) out.push({ code, message: c.message, since: new Date(c.since).toISOString(), details: c.details })
    }
    return out
  }

  private watchRaft (): void {
    const raft = this.peer.raft
    if (raft === undefined || this.raftWatched) return
    this.raftWatched = true
    const st = raft.status()
    this.log.info('raft started', { role: st.role, voter: st.voters.includes(this.peer.id), voters: st.voters })
    this.offs.push(raft.on('raft:role', (e) => {
      this.log.info('raft role changed', { role: e.role, term: e.term, leader: e.leader ?? null })
      if (e.leader !== undefined && e.leader !== this.lastLeader) this.log.info('raft leader elected', { leader: e.leader, term: e.term, self: e.leader === this.peer.id })
      this.lastLeader = e.leader
    }))
    this.offs.push(raft.on('raft:failed', (e) => { this.log.error('raft stopped after a failure', { error: e.error.message }) }))
  }

  /** Sets or clears a condition; logs when it becomes a warning and when it clears. */
  private condition (code: WarningCode, holds: boolean, message = '', details: Record<string, unknown> = {}): void {
    const now = this.now()
    const c = this.conditions.get(code)
    if (!holds) {
      if (c?.active === true) this.log.info('warning cleared', { code })
      this.conditions.delete(code)
      return
    }
    // Conditions that hold from the start count from the start (the daemon was given a chance to connect).
    const cond = c ?? { since: Math.max(this.startedAt, now), message, details, active: false }
    cond.message = message
    cond.details = details
    if (!cond.active && now - cond.since >= this.warnAfterMs) {
      cond.active = true
      this.log.warn(message, { code, ...details })
    }
    this.conditions.set(code, cond)
  }

  private async check (): Promise<void> {
    if (this.checking || !this.peer.started) return
    this.checking = true
    try {
      this.watchRaft()
      const connected = new Set(this.peer.libp2p.getPeers().map(p => p.toString()))
      this.dialBootstrap(connected)
      const members = this.peer.members()
      if (this.bootstrap.length > 0) {
        const errors = this.bootstrap.filter(b => b.lastError !== undefined).map(b => ({ address: b.address, error: b.lastError }))
        this.condition('WARN_NO_PEERS', connected.size === 0,
          `no peer reachable after ${Math.round((this.now() - this.startedAt) / 1000)} s: ${this.bootstrap.length === 1 ? 'the bootstrap peer does not answer' : `none of the ${this.bootstrap.length} bootstrap peers answers`}`,
          { bootstrap: this.bootstrap.map(b => b.address), errors })
        const down = this.bootstrap.filter(b => b.peerId !== undefined && !connected.has(b.peerId) && b.lastError !== undefined)
        this.condition('WARN_BOOTSTRAP_UNREACHABLE', down.length > 0,
          `bootstrap peer${down.length === 1 ? '' : 's'} unreachable: ${down.map(b => b.address).join(', ')}`,
          { unreachable: down.map(b => ({ address: b.address, error: b.lastError, attempts: b.attempts })) })
      }
      if (connected.size > 0 && members.length === 0) {
        const meshes = await this.meshesOf([...connected])
        this.condition('WARN_MESH_NOT_SHARED', true,
          `connected to ${connected.size} peer${connected.size === 1 ? '' : 's'} but none is in mesh "${this.peer.options.mesh}"${meshes.length > 0 ? ` (they are in ${meshes.map(m => `"${m}"`).join(', ')})` : ''}: check the mesh name`,
          { mesh: this.peer.options.mesh, connected: connected.size, theirMeshes: meshes })
      } else {
        this.condition('WARN_MESH_NOT_SHARED', false)
      }
      const raft = this.peer.raft?.status()
      if (raft !== undefined) {
        const missing = raft.voters.filter(v => v !== this.peer.id && !v.startsWith('raft:') && !connected.has(v))
        this.condition('WARN_RAFT_VOTERS_NOT_CONNECTED', missing.length > 0,
          `Raft voter${missing.length === 1 ? '' : 's'} not connected: ${missing.join(', ')}`, { missing, voters: raft.voters })
        this.condition('WARN_RAFT_NO_LEADER', raft.leader === undefined,
          raft.voters.includes(this.peer.id) ? 'no Raft leader: the group cannot commit (are a majority of voters running and connected?)' : 'no Raft leader known: this daemon is not a voter; a leader must add it as a member',
          { voters: raft.voters, voter: raft.voters.includes(this.peer.id) })
      }
    } catch (err) {
      this.log.debug('daemon checks failed', { error: (err as Error).message })
    } finally {
      this.checking = false
    }
  }

  private dialBootstrap (connected: ReadonlySet<string>): void {
    const now = this.now()
    for (const b of this.bootstrap) {
      if (b.peerId !== undefined && connected.has(b.peerId)) {
        if (b.lastError !== undefined) this.log.info('bootstrap peer connected', { address: b.address })
        b.lastError = undefined
        b.delayMs = BOOTSTRAP_REDIAL_MS_MIN
        b.attempts = 0
        continue
      }
      if (b.dialing || now < b.nextDialAt) continue
      b.dialing = true
      b.attempts++
      this.peer.dial(b.address, { signal: AbortSignal.timeout(BOOTSTRAP_DIAL_TIMEOUT_MS) })
        .then(() => { b.lastError = undefined; b.delayMs = BOOTSTRAP_REDIAL_MS_MIN })
        .catch((err: Error) => {
          b.lastError = err.message
          this.log.info('dial failed', { address: b.address, error: err.message, attempt: b.attempts, retryInMs: b.delayMs })
          b.delayMs = Math.min(BOOTSTRAP_REDIAL_MS_MAX, b.delayMs * 2)
        })
        .finally(() => { b.dialing = false; b.nextDialAt = this.now() + b.delayMs })
    }
  }

  /** Mesh names the connected peers announce (their `/agora/<mesh>/sync/...` protocols). */
  private async meshesOf (peers: string[]): Promise<string[]> {
    const meshes = new Set<string>()
    for (const p of peers.slice(0, 16)) {
      try {
        const conn = this.peer.libp2p.getConnections().find(c => c.remotePeer.toString() === p)
        if (conn === undefined) continue
        const info = await this.peer.libp2p.peerStore.get(conn.remotePeer)
        for (const proto of info.protocols) {
          const m = /^\/agora\/([^/]+)\/sync\//.exec(proto)
          if (m !== null) meshes.add(m[1]!)
        }
      } catch {}
    }
    return [...meshes].sort()
  }
}
