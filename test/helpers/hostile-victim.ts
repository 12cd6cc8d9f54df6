/**
 * A victim peer in its own process, for test/bench/hostile.bench.ts: a real peer (TCP, data dir) driven
 * over IPC by the bench, so what a hostile peer costs it (RSS after a GC, bytes held and on disk) is
 * measured apart from the attackers' process. Forked with `--expose-gc` and the argument
 * `--hostile-victim`; imported elsewhere it does nothing.
 *
 * Requests are `{ rid, op, ...args }`, answered `{ rid, ok: true, r }` or `{ rid, ok: false, error, code }`.
 * An uncaught exception is not caught here: the process dies and the bench counts it.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { ClassicLevel } from 'classic-level'
import { createPeer } from '../../peers/peer.js'
import type { Peer } from '../../peers/peer.js'
import type { PeerOptions } from '../../peers/options.js'

/** The argument that makes this module serve. */
export const VICTIM_FLAG = '--hostile-victim'

export interface VictimMeasure {
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
  /** Bytes of the data dir on disk (every file). */
  dirBytes: number
  /** Keys + values under `doc/<kind>/<host>/` per host asked, and under `raft/`. */
  dbDocBytes: Record<string, number>
  dbRaftBytes: number
  /** What the replica holds per host asked (checkpoint + updates + pending). */
  docBytes: Record<string, { reg: number, var: number }>
  hostUsage: Record<string, unknown>
  raft: { commit: number, applied: number } | null
  strongVariables: number
  agents: number
}

async function dirSize (dir: string): Promise<number> {
  let n = 0
  let entries
  try { entries = await readdir(dir, { withFileTypes: true }) } catch { return 0 }
  for (const e of entries) {
    const p = join(dir, e.name)
    if (e.isDirectory()) n += await dirSize(p)
    else { try { n += (await stat(p)).size } catch {} }
  }
  return n
}

async function rangeBytes (db: ClassicLevel<string, Uint8Array>, gte: string, lt: string): Promise<number> {
  let n = 0
  for await (const [k, v] of db.iterator({ gte, lt })) n += k.length + v.length
  return n
}

function safeJson (v: unknown): string {
  try { return JSON.stringify(v) ?? 'undefined' } catch (err) { return `<unserialisable: ${(err as Error).message}>` }
}

/** A value's property `key` found only through its prototype chain (not an own key), if any. */
function inherited (v: unknown, key: string): unknown {
  if (v === null || typeof v !== 'object') return undefined
  return Object.hasOwn(v, key) ? undefined : (v as Record<string, unknown>)[key]
}

async function serve (): Promise<void> {
  let peer: Peer | undefined
  let dataDir = ''
  const need = (): Peer => { if (peer === undefined) throw new Error('not started'); return peer }
  const handlers: Record<string, (m: any) => Promise<unknown>> = {
    async start (m) {
      dataDir = m.dataDir
      peer = await createPeer({ ...(m.options as PeerOptions), dataDir })
      return { id: peer.id, addresses: peer.addresses() }
    },
    async dial (m) { await need().dial(m.addr); return true },
    async startRaft (m) { await need().startRaft(m.raft); return true },
    async status () {
      const p = need()
      const s = p.raft?.status()
      return { started: p.started, raft: s === undefined ? null : { role: s.role, leader: s.leader ?? null, commit: s.commit, applied: s.applied, failed: s.failed ?? null }, economy: p.raft?.economy !== undefined, members: p.members().length }
    },
    async stats () {
      const p = need()
      const s = p.stats()
      const net = p.raft?.networkStats()
      return { sync: s.sync, replica: s.replica, registry: s.registry, variables: s.variables, economy: p.economy.stats, raftTransport: net?.transport ?? null, raftClient: net?.client ?? null, raftStats: p.raft?.stats() ?? null, storeErrors: s.storeErrors }
    },
    async agent (m) {
      const a = need().registry.lookup(m.id)
      if (a === undefined) return null
      const meta = a.metadata as Record<string, unknown>
      return { host: a.host, json: safeJson(a.metadata), claimedAt: a.claimedAt ?? null, inheritedAdmin: inherited(meta[m.path ?? 'role'], 'admin') ?? null }
    },
    async hostStatus (m) { return need().hostStatus(m.host) },
    async digest () { return need().replica.digestEntries() },
    async entry (m) { return need().replica.entry(m.kind, m.host) ?? null },
    async variable (m) {
      const p = need()
      try {
        const v = p.variables.eventual<unknown>(m.name, { initial: m.initial ?? null, merge: m.merge ?? 'lww' })
        const value = v.get()
        return { ok: true, json: safeJson(value), type: typeof value, inheritedAdmin: inherited(value, 'admin') ?? null }
      } catch (err) {
        return { ok: false, error: (err as Error).message }
      }
    },
    async account (m) { return need().raft?.economy?.account(m.id) ?? null },
    async supply () { return need().raft?.economy?.supply() ?? null },
    async strongRead (m) { return need().raft?.app?.read(m.name) ?? null },
    async register (m) { const a = await need().registry.register(m.agent); return a.id },
    async strongSet (m) { await need().variables.strong(m.name).set(m.value); return true },
    async varSet (m) { await need().variables.eventual<unknown>(m.name, { initial: null, merge: 'lww' }).set(m.value); return true },
    async measure (m) {
      const p = need()
      const gc = (globalThis as { gc?: () => void }).gc
      gc?.()
      await new Promise(resolve => setTimeout(resolve, 50))
      gc?.()
      const mu = process.memoryUsage()
      await p.store?.flush()
      const db = (p as unknown as { db: ClassicLevel<string, Uint8Array> | undefined }).db
      const hosts = (m.hosts ?? []) as string[]
      const dbDocBytes: Record<string, number> = {}
      const docBytes: Record<string, { reg: number, var: number }> = {}
      const hostUsage: Record<string, unknown> = {}
      for (const h of hosts) {
        dbDocBytes[h] = db === undefined ? 0 : (await rangeBytes(db, `doc/reg/${h}/`, `doc/reg/${h}/~`)) + (await rangeBytes(db, `doc/var/${h}/`, `doc/var/${h}/~`))
        docBytes[h] = { reg: p.replica.docBytes('reg', h), var: p.replica.docBytes('var', h) }
        hostUsage[h] = p.hostStatus(h)
      }
      const s = p.raft?.status()
      const strong = (p.raft?.app as unknown as { strong?: { data?: Map<string, string> } } | undefined)?.strong?.data
      return {
        rss: mu.rss,
        heapUsed: mu.heapUsed,
        external: mu.external,
        arrayBuffers: mu.arrayBuffers,
        dirBytes: await dirSize(dataDir),
        dbDocBytes,
        dbRaftBytes: db === undefined ? 0 : await rangeBytes(db, 'raft/', 'raft/~'),
        docBytes,
        hostUsage,
        raft: s === undefined ? null : { commit: s.commit, applied: s.applied },
        strongVariables: strong?.size ?? 0,
        agents: p.registry.size
      } satisfies VictimMeasure
    },
    async stop () { await peer?.stop(); return true }
  }
  process.on('message', (m: { rid: number, op: string }) => {
    const h = handlers[m.op]
    const run = h === undefined ? Promise.reject(new Error(`unknown op ${m.op}`)) : h(m)
    run.then(
      (r) => { process.send!({ rid: m.rid, ok: true, r }) },
      (err: unknown) => { process.send!({ rid: m.rid, ok: false, error: String((err as Error)?.message ?? err), code: (err as { code?: string })?.code ?? null }) }
    )
  })
  process.on('disconnect', () => { void peer?.stop().finally(() => process.exit(0)) })
  process.send!({ ready: true })
}

if (process.send !== undefined && process.argv.includes(VICTIM_FLAG)) void serve()
