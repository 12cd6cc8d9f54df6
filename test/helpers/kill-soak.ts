/**
 * The SIGKILL soak shared by test/bench/kill.bench.ts (20+ cycles) and test/daemon/kill.test.ts (3):
 * three voter daemons (`agora start`, real child processes, data dirs, fsync on) under continuous
 * client writes, one voter SIGKILLed per cycle (alternately the current leader and a follower),
 * restarted from its data dir, and awaited until it is ready and the group agrees on a leader. At the
 * end every acknowledged write is checked with linearizable reads on every daemon.
 *
 * Writes and what counts as lost:
 * - strong variables: writer `c` sets keys `w<c>-k<j>` (a ring of `keysPerWriter` keys) to
 *   `{ c, seq }` with `seq` increasing, so each key only ever gets larger values from its one writer,
 *   one request at a time, through a rotating daemon. An acknowledged write (200) is lost when its key
 *   finally reads missing or a smaller `seq` than its own.
 * - ledger: one client per daemon (the daemon owns its accounts; every voter is an authority). Per pair
 *   `p`, the daemon mints 2^bits - 1 into `l<d>-s<p>`, opens `l<d>-t<p>`, then transfers 2^0, 2^1, ...,
 *   2^(bits-1) from s to t, so t's final balance says exactly which transfers took effect: an
 *   acknowledged transfer whose bit is clear is lost. Supply is conserved when, on every daemon, the
 *   accounts sum to `circulating` and `circulating + burned = minted`.
 *
 * A request refused at connect (ECONNREFUSED) failed; any other error, timeout or 5xx is indefinite
 * (its outcome unknown), so its value may or may not be found; a value found that no request of its
 * writer could have produced (never issued, or refused at connect) is a phantom.
 *
 * Every wait is bounded (waitUntil); a cycle that does not recover within `recoveryTimeoutMs` throws
 * naming the cycle, the victim and what was awaited. Daemons run in their own process groups; every
 * group is SIGKILLed in `finally`, on SIGINT/SIGTERM and on process exit.
 */
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitUntil } from './wait.js'
import { mapLimit } from './limit.js'

export const NODE = join(process.cwd(), 'node_modules/.bin/node')
export const CLI = join(process.cwd(), 'dist/src/cli.js')

export interface SoakOptions {
  /** Kill cycles. */
  cycles: number
  /** Cycles 0, 2, 4... kill the leader, the others a follower (default true); false: followers only. */
  alternateLeader?: boolean
  /** Concurrent strong-variable writers (default 4). */
  writers?: number
  /** Keys in each writer's ring (default 256). */
  keysPerWriter?: number
  /** Ledger clients, one per daemon (default true). */
  ledger?: boolean
  /** Transfers per ledger pair, i.e. bits of the pair's mint (default 40). */
  ledgerBits?: number
  /** Minimum time between a recovery and the next kill (default 1000 ms). */
  periodMs?: number
  /** Acknowledged writes required between a recovery and the next kill (default 20). */
  minAcksBetween?: number
  /** A cycle must recover (victim exited, restarted, ready, leader agreed) within this (default 20 s). */
  recoveryTimeoutMs?: number
  /** One client request's timeout (default 20 s). */
  requestTimeoutMs?: number
  /** Progress lines (default: none). */
  log?: (msg: string) => void
  /** Keep the data dirs and logs (default false). */
  keep?: boolean
}

export interface CycleReport {
  cycle: number
  kind: 'leader' | 'follower'
  victim: number
  /** SIGKILL to the process's exit. */
  exitMs: number
  /** SIGKILL to the restarted daemon's start line (serving HTTP). */
  startMs: number
  /** SIGKILL to the restarted daemon's /ready (started, Raft leader known). */
  readyMs: number
  /** SIGKILL to restarted victim ready and all three agreeing on a leader. */
  recoveryMs: number
  /** SIGKILL to the first acknowledged write issued after it. */
  unavailabilityMs: number | null
  leaderBefore: number
  leaderAfter: number
}

export interface WriteCounts { acknowledged: number, failed: number, indefinite: number, rejected: number, codes: Record<string, number> }

export interface SoakReport {
  cycles: number
  leaderKills: number
  followerKills: number
  acknowledgedWrites: number
  failedWrites: number
  indefiniteWrites: number
  rejectedWrites: number
  lostAcknowledgedWrites: number
  strong: WriteCounts & { keys: number, lost: number, lostToLateIndefinite: number, phantom: number, divergentReads: number }
  ledger: (WriteCounts & { pairs: number, lost: number, phantom: number, divergentReads: number, setupRetries: number }) | null
  supplyConserved: boolean | null
  supply: { minted: number, burned: number, circulating: number, total: number } | null
  supplyProblems: string[]
  totalSeconds: number
  maxUnavailabilityMs: number
  maxUnavailabilityLeaderKillMs: number
  maxUnavailabilityFollowerKillMs: number
  p50UnavailabilityMs: number
  maxRecoveryMs: number
  p50RecoveryMs: number
  maxAckGapMs: number
  /** The Raft commit index at the end (the log's length; a snapshot every 10,000 entries by default). */
  finalCommitIndex: number
  daemonLog: { errors: number, warnings: number, samples: string[] }
  cycleDetail: CycleReport[]
  dataDir?: string
}

// ---------------------------------------------------------------- process management

interface Incarnation {
  proc: ChildProcess
  pid: number
  http: string
  peerId: string
  addresses: string[]
  token: string
  exited: boolean
  killed: boolean
}

interface Node { index: number, dir: string, id: string, cur: Incarnation | undefined, starts: number }

/** Process groups of every daemon this module started and that has not exited. */
const live = new Set<number>()

function killGroup (pid: number): void {
  try { process.kill(-pid, 'SIGKILL') } catch { /* already gone */ }
}

/** SIGKILLs every daemon process group still alive (synchronous: usable in an exit handler). */
export function killAllSoakDaemons (): void {
  for (const pid of live) killGroup(pid)
}

let handlersInstalled = false
function installHandlers (): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', killAllSoakDaemons)
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAllSoakDaemons()
      process.exit(sig === 'SIGINT' ? 130 : 143)
    })
  }
}

interface LogTally { errors: number, warnings: number, samples: string[] }

function tallyLog (tally: LogTally, node: number, start: number, chunk: string): void {
  for (const line of chunk.split('\n')) {
    if (line.trim() === '') continue
    let level = 'other'
    let msg = line
    try {
      const j = JSON.parse(line) as { level?: string, msg?: string, component?: string, error?: string }
      level = j.level ?? 'other'
      msg = `${j.component ?? ''}: ${j.msg ?? ''}${j.error !== undefined ? ` (${j.error})` : ''}`
    } catch { /* not a JSON log line: counted as an error */ level = 'error' }
    if (level === 'error') tally.errors++
    else if (level === 'warn') tally.warnings++
    else continue
    const s = `d${node}#${start} ${level}: ${msg.slice(0, 300)}`
    if (tally.samples.length < 20 && !tally.samples.some(x => x.slice(x.indexOf(' ')) === s.slice(s.indexOf(' ')))) tally.samples.push(s)
  }
}

async function startNode (node: Node, voters: string[], bootstrap: string[], tally: LogTally, timeoutMs: number): Promise<Incarnation> {
  const args = [CLI, 'start', '--data-dir', node.dir, '--http', '127.0.0.1:0', '--log-level', 'warn', '--raft-voters', voters.join(',')]
  for (const b of bootstrap) args.push('--bootstrap', b)
  const proc = spawn(NODE, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const pid = proc.pid
  if (pid === undefined) throw new Error(`daemon d${node.index} did not spawn`)
  live.add(pid)
  const start = ++node.starts
  const stderr: string[] = []
  let exited = false
  proc.once('exit', () => { exited = true; live.delete(pid) })
  proc.stderr!.on('data', (d: Buffer) => { const s = d.toString(); stderr.push(s); tallyLog(tally, node.index, start, s) })
  let line: string
  try {
    line = await new Promise<string>((resolve, reject) => {
      let buf = ''
      const timer = setTimeout(() => reject(new Error(`daemon d${node.index} printed no start line within ${timeoutMs} ms: ${stderr.join('').slice(-2000)}`)), timeoutMs)
      proc.stdout!.on('data', (d: Buffer) => {
        buf += d.toString()
        const nl = buf.indexOf('\n')
        if (nl >= 0) { clearTimeout(timer); resolve(buf.slice(0, nl)) }
      })
      proc.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`daemon d${node.index} exited (${String(code ?? signal)}) before starting: ${stderr.join('').slice(-2000)}`)) })
    })
  } catch (err) {
    killGroup(pid)
    throw err
  }
  const info = JSON.parse(line) as { http: string, peerId: string, addresses: string[], tokenFile: string }
  if (info.peerId !== node.id) throw new Error(`daemon d${node.index} came back as ${info.peerId}, not ${node.id}`)
  const token = (await readFile(info.tokenFile, 'utf8')).trim()
  const inc: Incarnation = { proc, pid, http: info.http, peerId: info.peerId, addresses: info.addresses, token, exited, killed: false }
  proc.once('exit', () => { inc.exited = true })
  if (exited) inc.exited = true
  return inc
}

// ---------------------------------------------------------------- HTTP

type Outcome =
  | { kind: 'ok', status: number, json: any }
  | { kind: 'rejected', status: number, code: string }
  | { kind: 'indefinite', code: string }
  | { kind: 'failed', code: string }

async function call (inc: Incarnation, method: string, path: string, body: unknown, timeoutMs: number): Promise<Outcome> {
  let res: Response
  try {
    res = await fetch(`http://${inc.http}${path}`, {
      method,
      headers: { authorization: `Bearer ${inc.token}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(timeoutMs)
    })
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } }
    const code = e.cause?.code ?? e.name
    // Refused at connect: the request never reached a daemon.
    if (code === 'ECONNREFUSED') return { kind: 'failed', code }
    return { kind: 'indefinite', code: `fetch:${String(code)}` }
  }
  let json: any
  try { json = await res.json() } catch (err) {
    if (res.status >= 200 && res.status < 300) return { kind: 'indefinite', code: `body:${(err as Error).name}` }
  }
  if (res.status >= 200 && res.status < 300) return { kind: 'ok', status: res.status, json }
  const code = String(json?.error?.code ?? `HTTP_${res.status}`)
  if (res.status >= 500) return { kind: 'indefinite', code: `${res.status}:${code}` }
  return { kind: 'rejected', status: res.status, code: `${res.status}:${code}` }
}

/** A read that must succeed (verification, status): throws with the outcome otherwise. */
async function must (inc: Incarnation, method: string, path: string, body: unknown, timeoutMs: number, okStatus: number[] = [200]): Promise<{ status: number, json: any }> {
  const o = await call(inc, method, path, body, timeoutMs)
  if (o.kind === 'ok' && okStatus.includes(o.status)) return o
  if (o.kind === 'rejected' && okStatus.includes(o.status)) return { status: o.status, json: undefined }
  throw new Error(`${method} ${path} on ${inc.http}: ${JSON.stringify(o)}`)
}

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}
const pause = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

function counts (): WriteCounts { return { acknowledged: 0, failed: 0, indefinite: 0, rejected: 0, codes: {} } }
function count (c: WriteCounts, o: Outcome): void {
  if (o.kind === 'ok') { c.acknowledged++; return }
  c[o.kind]++
  c.codes[o.code] = (c.codes[o.code] ?? 0) + 1
}

// ---------------------------------------------------------------- the soak

interface KeyLog { acked: number[], indefinite: Set<number>, failed: Set<number>, issued: Set<number> }
interface Pair { s: string, t: string, bits: Map<number, Outcome['kind']> }

export async function runKillSoak (o: SoakOptions): Promise<SoakReport> {
  installHandlers()
  const writers = o.writers ?? 4
  const keysPerWriter = o.keysPerWriter ?? 256
  const withLedger = o.ledger ?? true
  const BITS = o.ledgerBits ?? 40
  const periodMs = o.periodMs ?? 1000
  const minAcks = o.minAcksBetween ?? 20
  const recoveryTimeoutMs = o.recoveryTimeoutMs ?? 20_000
  const reqMs = o.requestTimeoutMs ?? 20_000
  const log = o.log ?? (() => {})
  const alternate = o.alternateLeader ?? true

  const root = await mkdtemp(join(tmpdir(), 'agora-kill-'))
  const tally: LogTally = { errors: 0, warnings: 0, samples: [] }
  const dirs = [0, 1, 2].map(i => join(root, `d${i}`))
  const ids = dirs.map(dir => execFileSync(NODE, [CLI, 'id', '--data-dir', dir]).toString().trim())
  const nodes: Node[] = dirs.map((dir, i) => ({ index: i, dir, id: ids[i]!, cur: undefined, starts: 0 }))
  const up = (n: Node): Incarnation | undefined => (n.cur !== undefined && !n.cur.killed && !n.cur.exited) ? n.cur : undefined

  let stopping = false
  const clients: Array<Promise<void>> = []
  const t0 = performance.now()
  try {
    // ---- start the group
    for (const n of nodes) {
      const boot = nodes.flatMap(m => { const u = up(m); return u !== undefined ? [u.addresses[0]!] : [] })
      n.cur = await startNode(n, ids, boot, tally, recoveryTimeoutMs)
    }
    const statusOf = async (inc: Incarnation): Promise<{ role: string, leader?: string, term: number, commit: number, failed?: string } | undefined> => {
      const o = await call(inc, 'GET', '/v1/status', undefined, 2000)
      return o.kind === 'ok' ? o.json.raft : undefined
    }
    /** The leader all three running daemons agree on (and which says it leads), else undefined. */
    const agreedLeader = async (): Promise<Node | undefined> => {
      const incs = nodes.map(up)
      if (incs.some(i => i === undefined)) return undefined
      const ss = await Promise.all(incs.map(async i => await statusOf(i!)))
      if (ss.some(s => s === undefined || s.failed !== undefined || s.leader === undefined)) return undefined
      const leader = ss[0]!.leader
      if (!ss.every(s => s!.leader === leader)) return undefined
      const ln = nodes.find(n => n.id === leader)
      if (ln === undefined || ss[ln.index]!.role !== 'leader') return undefined
      return ln
    }
    const allReady = async (): Promise<boolean> => {
      for (const n of nodes) {
        const i = up(n)
        if (i === undefined) return false
        const r = await call(i, 'GET', '/ready', undefined, 2000)
        if (r.kind !== 'ok') return false
      }
      return true
    }
    await waitUntil(allReady, { what: 'the three daemons ready', timeoutMs: recoveryTimeoutMs })
    await waitUntil(agreedLeader, { what: 'a leader all three daemons agree on', timeoutMs: recoveryTimeoutMs })
    log(`group up in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${ids.map(x => x.slice(-6)).join(', ')}`)

    // ---- bookkeeping shared by clients and the kill loop
    const strong = counts()
    const ledgerCounts = counts()
    let setupRetries = 0
    let totalAcks = 0
    let lastAckAt = performance.now()
    let maxAckGapMs = 0
    const cycles: CycleReport[] = []
    let killAt: number | undefined
    let firstAckAfterKill: number | undefined
    const onAck = (startedAt: number): void => {
      const now = performance.now()
      totalAcks++
      maxAckGapMs = Math.max(maxAckGapMs, now - lastAckAt)
      lastAckAt = now
      if (killAt !== undefined && firstAckAfterKill === undefined && startedAt >= killAt) firstAckAfterKill = now
    }

    // ---- strong-variable writers
    const keys = new Map<string, KeyLog>()
    const writer = async (c: number): Promise<void> => {
      for (let seq = 0; !stopping; seq++) {
        const key = `w${c}-k${seq % keysPerWriter}`
        let kl = keys.get(key)
        if (kl === undefined) { kl = { acked: [], indefinite: new Set(), failed: new Set(), issued: new Set() }; keys.set(key, kl) }
        let inc: Incarnation | undefined
        for (let k = 0; k < 3 && inc === undefined; k++) inc = up(nodes[(c + seq + k) % 3]!)
        if (inc === undefined) { await pause(10); seq--; continue }
        kl.issued.add(seq)
        const startedAt = performance.now()
        const r = await call(inc, 'PUT', `/v1/variables/strong/${key}`, { value: { c, seq } }, reqMs)
        count(strong, r)
        if (r.kind === 'ok') { kl.acked.push(seq); onAck(startedAt) } else if (r.kind === 'indefinite') { kl.indefinite.add(seq) } else { kl.failed.add(seq) }
      }
    }
    for (let c = 0; c < writers; c++) clients.push(writer(c))

    // ---- ledger clients: one per daemon, acting as accounts that daemon owns
    const pairs: Pair[][] = [[], [], []]
    const ledgerClient = async (d: number): Promise<void> => {
      const node = nodes[d]!
      /** Waits for daemon d to be up again (or the end); false on the end. */
      const daemon = async (): Promise<Incarnation | undefined> => {
        while (!stopping) {
          const i = up(node)
          if (i !== undefined) return i
          await pause(10)
        }
        return undefined
      }
      for (let p = 0; !stopping; p++) {
        const pair: Pair = { s: `l${d}-s${p}`, t: `l${d}-t${p}`, bits: new Map() }
        pairs[d]!.push(pair)
        // Fund s: mint until acknowledged or the account is seen (a retried indefinite mint may double-fund s; only t is checked bit by bit).
        let funded = false
        while (!funded) {
          const inc = await daemon()
          if (inc === undefined) return
          const r = await call(inc, 'POST', '/v1/ledger/mint', { account: pair.s, amount: 2 ** BITS - 1, owner: node.id }, reqMs)
          if (r.kind === 'ok') { funded = true; break }
          setupRetries++
          // Outcome unknown: look before minting again.
          for (;;) {
            const i2 = await daemon()
            if (i2 === undefined) return
            const g = await call(i2, 'GET', `/v1/ledger/accounts/${pair.s}`, undefined, reqMs)
            if (g.kind === 'ok') { funded = g.json.account.free >= 2 ** BITS - 1; break }
            if (g.kind === 'rejected' && g.status === 404) break
            await pause(10)
          }
        }
        for (;;) {
          const inc = await daemon()
          if (inc === undefined) return
          const r = await call(inc, 'POST', '/v1/ledger/accounts', { account: pair.t }, reqMs)
          if (r.kind === 'ok') break
          setupRetries++
        }
        for (let k = 0; k < BITS; k++) {
          const inc = await daemon()
          if (inc === undefined) return
          const startedAt = performance.now()
          const r = await call(inc, 'POST', '/v1/ledger/transfer', { from: pair.s, to: pair.t, amount: 2 ** k }, reqMs)
          count(ledgerCounts, r)
          pair.bits.set(k, r.kind)
          if (r.kind === 'ok') onAck(startedAt)
        }
      }
    }
    if (withLedger) for (let d = 0; d < 3; d++) clients.push(ledgerClient(d))

    // ---- the kill cycles
    let leaderKills = 0
    let followerKills = 0
    for (let cyc = 0; cyc < o.cycles; cyc++) {
      const since = performance.now()
      const acks0 = totalAcks
      await waitUntil(() => performance.now() - since >= periodMs && totalAcks - acks0 >= minAcks,
        { what: `cycle ${cyc}: ${minAcks} acknowledged writes before the kill`, timeoutMs: recoveryTimeoutMs + periodMs, intervalMs: 10 })
      const leader = await waitUntil(agreedLeader, { what: `cycle ${cyc}: an agreed leader before the kill`, timeoutMs: recoveryTimeoutMs })
      const kind: 'leader' | 'follower' = alternate && cyc % 2 === 0 ? 'leader' : 'follower'
      const followers = nodes.filter(n => n !== leader)
      const victim = kind === 'leader' ? leader : followers[Math.floor(cyc / 2) % followers.length]!
      const inc = victim.cur!
      const what = `cycle ${cyc}: d${victim.index} (${kind}) SIGKILLed`
      killAt = performance.now()
      firstAckAfterKill = undefined
      inc.killed = true
      killGroup(inc.pid)
      if (kind === 'leader') leaderKills++; else followerKills++
      const deadline = killAt + recoveryTimeoutMs
      const left = (): number => Math.max(1, deadline - performance.now())
      await waitUntil(() => inc.exited, { what: `${what}: its exit`, timeoutMs: left() })
      const exitMs = performance.now() - killAt
      const boot = nodes.flatMap(m => { const u = up(m); return u !== undefined ? [u.addresses[0]!] : [] })
      try {
        victim.cur = await startNode(victim, ids, boot, tally, left())
      } catch (err) {
        throw new Error(`${what}: restart failed: ${(err as Error).message}`)
      }
      const startMs = performance.now() - killAt
      await waitUntil(async () => (await call(victim.cur!, 'GET', '/ready', undefined, 2000)).kind === 'ok', { what: `${what}: the restarted daemon ready (within ${recoveryTimeoutMs} ms of the kill)`, timeoutMs: left() })
      const readyMs = performance.now() - killAt
      const after = await waitUntil(agreedLeader, { what: `${what}: a leader all three agree on (within ${recoveryTimeoutMs} ms of the kill)`, timeoutMs: left() })
      const recoveryMs = performance.now() - killAt
      // Unavailability: until a write issued after the kill is acknowledged (bounded by the same deadline).
      await waitUntil(() => firstAckAfterKill !== undefined, { what: `${what}: an acknowledged write issued after the kill`, timeoutMs: left(), intervalMs: 5 })
      const rep: CycleReport = {
        cycle: cyc,
        kind,
        victim: victim.index,
        exitMs: Math.round(exitMs),
        startMs: Math.round(startMs),
        readyMs: Math.round(readyMs),
        recoveryMs: Math.round(recoveryMs),
        unavailabilityMs: firstAckAfterKill !== undefined ? Math.round(firstAckAfterKill - killAt) : null,
        leaderBefore: leader.index,
        leaderAfter: after.index
      }
      cycles.push(rep)
      killAt = undefined
      log(`cycle ${cyc}: killed d${victim.index} (${kind}), recovered in ${rep.recoveryMs} ms, unavailable ${String(rep.unavailabilityMs)} ms, leader d${after.index}; ${totalAcks} acks`)
    }

    // ---- stop the clients (each request is bounded by requestTimeoutMs)
    stopping = true
    await Promise.all(clients)
    clients.length = 0
    await waitUntil(allReady, { what: 'the three daemons ready after the last cycle', timeoutMs: recoveryTimeoutMs })
    const finalLeader = await waitUntil(agreedLeader, { what: 'an agreed leader after the last cycle', timeoutMs: recoveryTimeoutMs })
    const totalSeconds = (performance.now() - t0) / 1000

    // ---- verification: every key and account, linearizably, on every daemon
    const verifyMs = Math.max(reqMs, 10_000)
    const keyList = [...keys.keys()].sort()
    const reads: Array<Map<string, { c: number, seq: number } | null>> = []
    for (const n of nodes) {
      const inc = up(n)!
      const vals = await mapLimit(keyList, 16, async k => (await must(inc, 'GET', `/v1/variables/strong/${k}`, undefined, verifyMs)).json.value as { c: number, seq: number } | null)
      reads.push(new Map(keyList.map((k, i) => [k, vals[i]!])))
    }
    let strongLost = 0
    let lateIndefinite = 0
    let strongPhantom = 0
    let strongDivergent = 0
    for (const k of keyList) {
      const kl = keys.get(k)!
      const c = Number(k.slice(1, k.indexOf('-')))
      const v0 = reads[0]!.get(k) ?? null
      for (const r of reads.slice(1)) if (JSON.stringify(r.get(k) ?? null) !== JSON.stringify(v0)) strongDivergent++
      const fin = v0 === null ? -1 : v0.seq
      if (v0 !== null && (v0.c !== c || !kl.issued.has(v0.seq) || kl.failed.has(v0.seq))) strongPhantom++
      const lost = kl.acked.filter(s => s > fin).length
      strongLost += lost
      if (lost > 0 && kl.indefinite.has(fin)) lateIndefinite += lost
    }

    let ledgerReport: SoakReport['ledger'] = null
    let supplyConserved: boolean | null = null
    let supply: SoakReport['supply'] = null
    const supplyProblems: string[] = []
    if (withLedger) {
      const accountIds = pairs.flat().flatMap(p => [p.s, p.t])
      const accs: Array<Map<string, any>> = []
      for (const n of nodes) {
        const inc = up(n)!
        // A pair the clients stopped setting up may lack its accounts (404).
        const vals = await mapLimit(accountIds, 16, async a => (await must(inc, 'GET', `/v1/ledger/accounts/${a}`, undefined, verifyMs, [200, 404])).json?.account)
        accs.push(new Map(accountIds.flatMap((a, i) => vals[i] !== undefined ? [[a, vals[i]] as [string, any]] : [])))
        const s = (await must(inc, 'GET', '/v1/ledger/supply', undefined, verifyMs)).json.supply as NonNullable<SoakReport['supply']>
        supply ??= s
        const held = (a: any): number => a.free + a.escrow + a.staked + a.unbonding
        const sum = [...accs[accs.length - 1]!.values()].reduce((x, a) => x + held(a), 0)
        if (JSON.stringify(s) !== JSON.stringify(supply)) supplyProblems.push(`d${n.index}: supply ${JSON.stringify(s)} differs from d0's ${JSON.stringify(supply)}`)
        if (s.circulating + s.burned !== s.minted) supplyProblems.push(`d${n.index}: circulating ${s.circulating} + burned ${s.burned} != minted ${s.minted}`)
        if (sum !== s.circulating) supplyProblems.push(`d${n.index}: the bench's accounts hold ${sum}, circulating is ${s.circulating}`)
      }
      supplyConserved = supplyProblems.length === 0
      let lost = 0
      let phantom = 0
      let divergent = 0
      for (const p of pairs.flat()) {
        for (const a of [p.s, p.t]) for (const m of accs.slice(1)) if (JSON.stringify(m.get(a)) !== JSON.stringify(accs[0]!.get(a))) divergent++
        const t = (accs[0]!.get(p.t)?.free ?? 0) as number
        for (let k = 0; k < BITS; k++) {
          const set = Math.floor(t / 2 ** k) % 2 === 1
          const kind = p.bits.get(k)
          if (kind === 'ok' && !set) lost++
          if (set && (kind === undefined || kind === 'failed' || kind === 'rejected')) phantom++
        }
      }
      ledgerReport = { ...ledgerCounts, pairs: pairs.flat().length, lost, phantom, divergentReads: divergent, setupRetries }
    }

    const finalCommitIndex = (await statusOf(up(finalLeader)!))?.commit ?? -1
    const un = cycles.map(c => c.unavailabilityMs ?? 0)
    const unOf = (kind: string): number => Math.max(0, ...cycles.filter(c => c.kind === kind).map(c => c.unavailabilityMs ?? 0))
    const rec = cycles.map(c => c.recoveryMs)
    const lc = ledgerReport
    return {
      cycles: cycles.length,
      leaderKills,
      followerKills,
      acknowledgedWrites: strong.acknowledged + (lc?.acknowledged ?? 0),
      failedWrites: strong.failed + (lc?.failed ?? 0),
      indefiniteWrites: strong.indefinite + (lc?.indefinite ?? 0),
      rejectedWrites: strong.rejected + (lc?.rejected ?? 0),
      lostAcknowledgedWrites: strongLost + (lc?.lost ?? 0),
      strong: { ...strong, keys: keyList.length, lost: strongLost, lostToLateIndefinite: lateIndefinite, phantom: strongPhantom, divergentReads: strongDivergent },
      ledger: ledgerReport,
      supplyConserved,
      supply,
      supplyProblems,
      totalSeconds: Number(totalSeconds.toFixed(1)),
      maxUnavailabilityMs: Math.max(0, ...un),
      maxUnavailabilityLeaderKillMs: unOf('leader'),
      maxUnavailabilityFollowerKillMs: unOf('follower'),
      p50UnavailabilityMs: pct(un, 0.5),
      maxRecoveryMs: Math.max(0, ...rec),
      p50RecoveryMs: pct(rec, 0.5),
      maxAckGapMs: Math.round(maxAckGapMs),
      finalCommitIndex,
      daemonLog: { errors: tally.errors, warnings: tally.warnings, samples: tally.samples },
      cycleDetail: cycles,
      ...(o.keep === true ? { dataDir: root } : {})
    }
  } finally {
    stopping = true
    for (const n of nodes) if (n.cur !== undefined && !n.cur.exited) killGroup(n.cur.pid)
    await Promise.all(nodes.map(async n => {
      const i = n.cur
      if (i !== undefined && !i.exited) await waitUntil(() => i.exited, { what: `d${n.index} to exit after SIGKILL`, timeoutMs: 10_000 }).catch(() => {})
    }))
    // Clients fail fast once the daemons are gone (refused at connect); bounded anyway.
    await Promise.race([Promise.allSettled(clients), pause(reqMs)])
    if (o.keep !== true) await rm(root, { recursive: true, force: true }).catch(() => {})
  }
}
