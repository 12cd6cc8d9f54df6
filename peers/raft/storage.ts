/**
 * Durable Raft storage in the peer's data dir (LevelDB through classic-level), in the manner of etcd's
 * WAL + MemoryStorage: the core reads a {@link MemoryStorage}; every Ready's hard state, entries and
 * snapshot are written to LevelDB in one atomic batch (fsync'd when the Ready says `mustSync` and `fsync`
 * is on), group-committed with the Readys saved while the previous batch was written, *before* the
 * driver sends the Ready's messages (a leader's own new entries: in parallel with sending them,
 * Ready.persistInParallel), and mirrored into the MemoryStorage as they are queued.
 * `open()` rebuilds the MemoryStorage from disk, so a restart resumes with every acknowledged write.
 *
 * Keys (under the `raft/<group>/` prefix):
 *   hs                → hard state            (varuint term, vote, commit)
 *   snap              → latest snapshot       (varuint index, term, voters, learners; bytes data)
 *   e/<index, 16 digits> → a run of log entries from that index (u8 0; varuint count; count × (varuint
 *                         term; u8 type; bytes data)), all the entries one save appends (one record,
 *                         not one per entry); or, as written before runs, one entry (varuint term ≥ 1;
 *                         u8 type; bytes data)
 * Reading the records in key order rebuilds the log as the appends built it: a record starting inside
 * the one before it replaced that one's tail (a conflicting suffix). A save that truncates deletes the
 * records starting after its first entry; the records (their first indexes) are tracked in memory.
 * Records wholly at or below the snapshot index are deleted when the snapshot is saved or the log
 * compacted.
 * A write MemoryStorage would refuse (an older snapshot, an append leaving a gap) is refused before
 * anything reaches the disk; entries already compacted are not written.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import type { ClassicLevel } from 'classic-level'
import { DecodeError } from '../../src/base/errors.js'
import { RaftInvariantError, SnapshotOutOfDateError } from '../../protocols/raft/errors.js'
import { MemoryStorage } from '../../protocols/raft/storage.js'
import { varUintBytes, writeVarUint } from '../../protocols/raft/envelope.js'
import { DEFAULT_WIRE_LIMITS } from '../../protocols/raft/wire.js'
import type { ConfState, Entry, HardState, Snapshot } from '../../protocols/raft/types.js'
import { raftTrace } from '../../protocols/raft/trace.js'

const ENTRY_TYPES = ['normal', 'confChange'] as const

function idx (i: number): string {
  return String(i).padStart(16, '0')
}

export function encodeHardState (hs: HardState): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, hs.term)
  encoding.writeVarUint(e, hs.vote)
  encoding.writeVarUint(e, hs.commit)
  return encoding.toUint8Array(e)
}

/**
 * Runs a decoder of a stored value: anything it throws becomes {@link DecodeError} (`ERR_DECODE`), and
 * the whole value must be read (trailing bytes are corruption).
 */
function decodeStored<T> (what: string, b: Uint8Array, read: (d: decoding.Decoder) => T): T {
  try {
    const d = decoding.createDecoder(b)
    const out = read(d)
    if (d.pos !== b.length) throw new DecodeError(what, `${b.length - d.pos} trailing bytes`)
    return out
  } catch (err) {
    if (err instanceof DecodeError) throw err
    throw new DecodeError(what, (err as Error).message ?? 'malformed')
  }
}

function readUint (d: decoding.Decoder, what: string): number {
  const n = decoding.readVarUint(d)
  if (!Number.isSafeInteger(n)) throw new DecodeError(what, 'not a safe integer')
  return n
}

/** Decodes the stored hard state (`hs`). Throws DecodeError. */
export function decodeHardState (b: Uint8Array): HardState {
  return decodeStored('raft hard state', b, d => ({ term: readUint(d, 'raft hard state'), vote: readUint(d, 'raft hard state'), commit: readUint(d, 'raft hard state') }))
}

export function encodeEntry (en: Entry): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, en.term)
  encoding.writeUint8(e, ENTRY_TYPES.indexOf(en.type))
  encoding.writeVarUint8Array(e, en.data)
  return encoding.toUint8Array(e)
}

/** The record of a run of consecutive entries (`e/<index of the first>`), in one allocation. */
export function encodeRun (entries: readonly Entry[], from = 0): Uint8Array {
  let size = 1 + varUintBytes(entries.length - from)
  for (let k = from; k < entries.length; k++) {
    const en = entries[k]!
    size += varUintBytes(en.term) + 1 + varUintBytes(en.data.length) + en.data.length
  }
  const out = new Uint8Array(size)
  out[0] = 0
  let pos = writeVarUint(out, 1, entries.length - from)
  for (let k = from; k < entries.length; k++) {
    const en = entries[k]!
    pos = writeVarUint(out, pos, en.term)
    out[pos++] = ENTRY_TYPES.indexOf(en.type)
    pos = writeVarUint(out, pos, en.data.length)
    out.set(en.data, pos)
    pos += en.data.length
  }
  return out
}

/** Decodes the record at `e/<index>`: a run of entries from `index`, or one entry as written before runs. Throws DecodeError. */
export function decodeRecord (index: number, b: Uint8Array): Entry[] {
  if (b.length === 0 || b[0] !== 0) return [decodeEntry(index, b)]
  return decodeStored('raft entries', b, d => {
    decoding.readUint8(d)
    const n = readUint(d, 'raft entries')
    // Each entry takes at least 3 bytes: a count beyond that is corruption (and no loop runs on it).
    if (n === 0 || n * 3 > b.length) throw new DecodeError('raft entries', `bad count ${n} at index ${index}`)
    const out: Entry[] = []
    for (let k = 0; k < n; k++) {
      const term = readUint(d, 'raft entries')
      const type = ENTRY_TYPES[decoding.readUint8(d)]
      if (type === undefined) throw new DecodeError('raft entries', `unknown type at index ${index + k}`)
      out.push({ term, index: index + k, type, data: decoding.readVarUint8Array(d).slice() })
    }
    return out
  })
}

/** Decodes the stored entry at `index` (`e/<index>`). Throws DecodeError. */
export function decodeEntry (index: number, b: Uint8Array): Entry {
  return decodeStored('raft entry', b, d => {
    const term = readUint(d, 'raft entry')
    const type = ENTRY_TYPES[decoding.readUint8(d)]
    if (type === undefined) throw new DecodeError('raft entry', `unknown type at index ${index}`)
    return { term, index, type, data: decoding.readVarUint8Array(d).slice() }
  })
}

function writeIds (e: encoding.Encoder, ids: readonly number[]): void {
  encoding.writeVarUint(e, ids.length)
  for (const id of ids) encoding.writeVarUint(e, id)
}

function readIds (d: decoding.Decoder): number[] {
  const n = readUint(d, 'raft snapshot')
  // A configuration never has more members than a Raft message may carry.
  if (n > DEFAULT_WIRE_LIMITS.membersMax) throw new DecodeError('raft snapshot', `${n} members exceed ${DEFAULT_WIRE_LIMITS.membersMax}`)
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push(readUint(d, 'raft snapshot'))
  return out
}

export function encodeSnapshot (s: Snapshot): Uint8Array {
  const e = encoding.createEncoder()
  encoding.writeVarUint(e, s.metadata.index)
  encoding.writeVarUint(e, s.metadata.term)
  writeIds(e, s.metadata.confState.voters)
  writeIds(e, s.metadata.confState.learners)
  encoding.writeVarUint8Array(e, s.data)
  return encoding.toUint8Array(e)
}

/** Decodes the stored snapshot (`snap`). Throws DecodeError. */
export function decodeSnapshot (b: Uint8Array): Snapshot {
  return decodeStored('raft snapshot', b, d => {
    const index = readUint(d, 'raft snapshot')
    const term = readUint(d, 'raft snapshot')
    const confState: ConfState = { voters: readIds(d), learners: readIds(d) }
    return { metadata: { index, term, confState }, data: decoding.readVarUint8Array(d).slice() }
  })
}

/** The index of a stored entry's key `<prefix>e/<16 digits>`. Throws DecodeError. */
export function entryKeyIndex (key: string, prefix: string): number {
  const digits = key.slice(prefix.length + 2)
  if (!/^[0-9]{16}$/.test(digits)) throw new DecodeError('raft log', `bad entry key ${JSON.stringify(key)}`)
  const index = Number(digits)
  if (!Number.isSafeInteger(index) || index < 1) throw new DecodeError('raft log', `bad entry index ${digits}`)
  return index
}

export interface DurableRaftStorageOptions {
  /** Key prefix distinguishing Raft groups in one database. Default 'raft/main/'. */
  prefix?: string
  /** fsync batches whose Ready says `mustSync`. Default true. */
  fsync?: boolean
  /** A synced write slower than this calls `onSlowSync`. Default {@link FSYNC_SLOW_MS_DEFAULT}. */
  fsyncSlowMs?: number
  /** Called with the duration of a synced write slower than `fsyncSlowMs`. */
  onSlowSync?: (ms: number, thresholdMs: number) => void
  /** This node's Raft id, as its stages are reported to a trace sink (protocols/raft/trace.ts). Default 0. */
  traceNode?: number
}

/** Default `fsyncSlowMs`: a synced Raft write slower than this is reported (a disk that slow delays every commit). */
export const FSYNC_SLOW_MS_DEFAULT = 100

/** A commit-only hard state waits at most this long for a batch to join before it is written alone. */
export const COMMIT_WRITE_DELAY_MS = 5

type BatchOp = { type: 'put', key: string, value: Uint8Array } | { type: 'del', key: string }

export class DurableRaftStorage {
  /** The read side the Raft core uses. */
  readonly memory: MemoryStorage
  private readonly db: ClassicLevel<string, Uint8Array>
  private readonly prefix: string
  private readonly fsync: boolean
  private readonly fsyncSlowMs: number
  private readonly onSlowSync: ((ms: number, thresholdMs: number) => void) | undefined
  private readonly traceNode: number
  /** Batches written / fsync'd (for metrics and benches; `saves`: Readys they held); `slowSyncs`: synced writes slower than `fsyncSlowMs`. */
  readonly stats = { batches: 0, saves: 0, syncs: 0, bytes: 0, slowSyncs: 0 }

  /**
   * First indexes of the entry records on disk (once the queued batches are written), ascending. Bounded
   * by the log: one per save since the last compaction.
   */
  private readonly records: number[]

  private constructor (db: ClassicLevel<string, Uint8Array>, memory: MemoryStorage, options: DurableRaftStorageOptions, records: number[]) {
    this.db = db
    this.memory = memory
    this.records = records
    this.prefix = options.prefix ?? 'raft/main/'
    this.fsync = options.fsync ?? true
    this.fsyncSlowMs = options.fsyncSlowMs ?? FSYNC_SLOW_MS_DEFAULT
    this.onSlowSync = options.onSlowSync
    this.traceNode = options.traceNode ?? 0
  }

  /** Runs a write; a synced one slower than `fsyncSlowMs` is counted and reported. */
  private async timed (sync: boolean, write: () => Promise<void>): Promise<void> {
    if (!sync) { await write(); return }
    const t0 = performance.now()
    await write()
    const ms = Math.round(performance.now() - t0)
    if (ms >= this.fsyncSlowMs) {
      this.stats.slowSyncs++
      this.onSlowSync?.(ms, this.fsyncSlowMs)
    }
  }

  /** Opens (or creates) the storage and loads the saved state into memory. */
  static async open (db: ClassicLevel<string, Uint8Array>, options: DurableRaftStorageOptions = {}): Promise<DurableRaftStorage> {
    const prefix = options.prefix ?? 'raft/main/'
    const memory = new MemoryStorage()
    const snapBytes = await db.get(prefix + 'snap')
    if (snapBytes !== undefined) memory.applySnapshot(decodeSnapshot(snapBytes))
    const hsBytes = await db.get(prefix + 'hs')
    const entries: Entry[] = []
    const records: number[] = []
    const snapIndex = memory.lastIndex()
    // The index after the last entry of the records read so far (0: none yet).
    let end = 0
    for await (const [key, value] of db.iterator({ gt: prefix + 'e/', lt: prefix + 'e/~' })) {
      const index = entryKeyIndex(key, prefix)
      records.push(index)
      const run = decodeRecord(index, value)
      // A gap matters only above the snapshot (records wholly below it may be left by a compaction
      // that stopped before its clear ended).
      if (end !== 0 && index > end && index > snapIndex + 1) throw new DecodeError('raft log', `gap in the saved log at index ${end}`)
      end = index + run.length
      // A record replaces the tail of the log from its first entry on, even when the record itself lies
      // wholly at or below the snapshot: an older record's tail it replaced (a truncated conflicting
      // suffix, left on disk when a compaction's clear did not run) must not come back above the
      // snapshot. Entries at or below the snapshot are skipped.
      if (entries.length > 0) entries.length = Math.max(0, index - entries[0]!.index)
      for (let k = Math.max(0, snapIndex + 1 - index); k < run.length; k++) entries.push(run[k]!)
    }
    memory.append(entries)
    if (hsBytes !== undefined) memory.setHardState(decodeHardState(hsBytes))
    return new DurableRaftStorage(db, memory, options, records)
  }

  /**
   * Ready step 1: persists hard state, entries and snapshot atomically (fsync'd if `mustSync`); resolves
   * once they are durable. `memory` mirrors every save at once, in order (the core reads the entries it
   * has not yet seen stable from its own unstable log, so a view ahead of the disk is never read as
   * durable). Saves are group-committed: while one batch is written, the saves that arrive queue, and
   * the next batch writes them all with one fsync; batches are written one at a time, in order. A save
   * of nothing but a hard state moving the commit index resolves at once and is written with the next
   * batch (or alone after COMMIT_WRITE_DELAY_MS): a commit index need never be durable.
   */
  async save (rd: { hardState?: HardState, entries: readonly Entry[], snapshot?: Snapshot, mustSync: boolean }): Promise<void> {
    const ops: BatchOp[] = []
    const p = this.prefix
    // What is on disk (once the queued batches are written) mirrors `memory`: [first, last] are the
    // saved entries. Everything MemoryStorage would refuse is refused here *before* anything is queued,
    // so disk and memory never part.
    let first = this.memory.firstIndex()
    let last = this.memory.lastIndex()
    if (rd.snapshot !== undefined) {
      const current = this.memory.snapshot().metadata.index
      if (rd.snapshot.metadata.index < current) throw new SnapshotOutOfDateError(rd.snapshot.metadata.index, current)
      // Installing a snapshot replaces the whole log, in the same atomic batch.
      ops.push({ type: 'put', key: p + 'snap', value: encodeSnapshot(rd.snapshot) })
      for (const r of this.records) ops.push({ type: 'del', key: p + 'e/' + idx(r) })
      this.records.length = 0
      first = rd.snapshot.metadata.index + 1
      last = rd.snapshot.metadata.index
    }
    // As MemoryStorage.append: entries already compacted are skipped (all of them: nothing changes).
    const skip = rd.entries.length > 0 ? Math.max(0, first - rd.entries[0]!.index) : 0
    if (skip < rd.entries.length) {
      const start = rd.entries[skip]!.index
      if (start > last + 1) throw new RaftInvariantError(`append leaves a gap: last ${last}, appending ${start}`)
      // One record for the new entries. Records starting after its first entry held entries it replaces
      // (or a conflicting suffix beyond it): deleted. One starting before it keeps its head; its tail is
      // replaced on reading, the later record coming after it in key order.
      const rs = this.records
      while (rs.length > 0 && rs[rs.length - 1]! >= start) {
        const r = rs.pop()!
        if (r > start) ops.push({ type: 'del', key: p + 'e/' + idx(r) })
      }
      rs.push(start)
      ops.push({ type: 'put', key: p + 'e/' + idx(start), value: encodeRun(rd.entries, skip) })
    }
    if (rd.hardState !== undefined) ops.push({ type: 'put', key: p + 'hs', value: encodeHardState(rd.hardState) })
    if (rd.snapshot !== undefined) this.memory.applySnapshot(rd.snapshot)
    if (rd.entries.length > 0) this.memory.append(rd.entries as Entry[])
    if (rd.hardState !== undefined) this.memory.setHardState(rd.hardState)
    if (ops.length === 0) return
    // A hard state that moves only the commit index need not be durable (a restart learns the commit
    // again): it goes with the next batch, or alone after COMMIT_WRITE_DELAY_MS, not in a write of its
    // own ahead of the next entries.
    if (!rd.mustSync && rd.snapshot === undefined && rd.entries.length === 0 && ops.length === 1) {
      this.lazy = ops[0]
      raftTrace?.(this.traceNode, 'commit-only write held')
      this.lazyTimer ??= setTimeout(() => { this.lazyTimer = undefined; this.flushLazy() }, COMMIT_WRITE_DELAY_MS)
      this.lazyTimer.unref?.()
      return
    }
    await this.enqueue(ops, this.fsync && rd.mustSync)
  }

  /** A commit-only hard state not yet written (see {@link save}). */
  private lazy: BatchOp | undefined
  private lazyTimer: ReturnType<typeof setTimeout> | undefined

  private flushLazy (): void {
    if (this.lazy === undefined) return
    // Its failure (the database closed under it at a stop) costs nothing: the commit is learned again.
    this.enqueue([], false).catch(() => {})
  }

  /**
   * Writes a commit-only hard state still waiting (see {@link save}) and resolves once every batch queued
   * before is written. Call it before another instance opens the same database (a restart of the Raft
   * service on the peer's open LevelDB): the waiting write would otherwise land after that instance's
   * first writes and put this one's older term and vote back over its newer ones.
   */
  async flush (): Promise<void> {
    clearTimeout(this.lazyTimer)
    this.lazyTimer = undefined
    await this.enqueue([], false)
  }

  /** Saves waiting for the batch being written (bounded by the Raft core's own limits on what it hands out). */
  private queue: Array<{ ops: BatchOp[], sync: boolean, resolve: () => void, reject: (err: Error) => void }> = []
  private writing = false

  private async enqueue (ops: BatchOp[], sync: boolean): Promise<void> {
    if (this.lazy !== undefined) {
      // First in the batch: a hard state in `ops` (newer) is put after it.
      ops = [this.lazy, ...ops]
      this.lazy = undefined
    }
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, sync, resolve, reject })
      if (!this.writing) this.writeQueued()
    })
  }

  /** Writes every queued save in one batch (one fsync if any needs it), then the next group. */
  private writeQueued (): void {
    const group = this.queue
    this.queue = []
    this.writing = true
    const ops = group.length === 1 ? group[0]!.ops : group.flatMap(g => g.ops)
    const sync = group.some(g => g.sync)
    raftTrace?.(this.traceNode, sync ? 'write start' : 'write start (no fsync)')
    this.timed(sync, async () => { const written = this.db.batch(ops, { sync }); raftTrace?.(this.traceNode, 'write handed off'); await written }).then(() => {
      raftTrace?.(this.traceNode, 'write done')
      this.stats.batches++
      this.stats.saves += group.length
      if (sync) this.stats.syncs++
      for (const op of ops) if (op.type === 'put') this.stats.bytes += op.value.length
      for (const g of group) g.resolve()
    }, (err: Error) => {
      for (const g of group) g.reject(err)
    }).finally(() => {
      this.writing = false
      if (this.queue.length > 0) this.writeQueued()
    })
  }

  /**
   * Records an application snapshot at applied index `i` and discards the log up to it (log compaction).
   */
  async snapshotAndCompact (i: number, confState: ConfState, data: Uint8Array): Promise<Snapshot> {
    const snap = this.memory.createSnapshot(i, confState, data)
    if (i > this.memory.firstIndex() - 1 && i <= this.memory.lastIndex()) this.memory.compact(i)
    // The records wholly at or below `i` go: those before the one holding entry i + 1 (or, if none does,
    // before the last one starting at or below i + 1, which holds nothing needed then).
    let keep = -1
    for (let k = this.records.length - 1; k >= 0; k--) if (this.records[k]! <= i + 1) { keep = k; break }
    const dropBelow = keep >= 0 ? this.records[keep]! : 0
    if (keep > 0) this.records.splice(0, keep)
    // In order with the saves queued before it.
    await this.enqueue([{ type: 'put', key: this.prefix + 'snap', value: encodeSnapshot(snap) }], this.fsync)
    if (dropBelow > 0) await this.db.clear({ gte: this.prefix + 'e/', lt: this.prefix + 'e/' + idx(dropBelow) })
    return snap
  }
}
