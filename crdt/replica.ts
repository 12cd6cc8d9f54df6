/**
 * A replica: every host document this peer holds (its own, which it writes and signs, and the others',
 * which it verifies, applies and relays). It is transport-free: the peer layer feeds it the bytes that
 * arrive by gossip or anti-entropy and sends what it returns. See crdt/README.md for the design.
 *
 * Ownership (R4) is certain by construction: the document of host P is changed only by messages that P
 * signed, so no message can touch another host's agents; a bad signature rejects the message whole.
 */
import * as Y from 'yjs'
import { DecodeError } from '../src/base/errors.js'
import { TAG_CHECKPOINT, TAG_UPDATE, attachSignature, decodeDigest, decodeSignedBlob, encodeDigest, encodeSignedPart, peekTag } from './codec.js'
import { HostDoc, ORIGIN_LOCAL, ORIGIN_REMOTE } from './hostdoc.js'
import { DEFAULT_LIMITS } from './limits.js'
import { signingContext, withContext } from './signing.js'
import type { DigestEntry, DocKind, SignedBlob } from './codec.js'
import type { RegistryLimits } from './limits.js'
import type { Signer, Verifier } from './signing.js'

export type RejectReason =
  | 'decode' | 'signature' | 'stale' | 'own' | 'host-refused' | 'hosts-max' | 'pending-overflow' | 'yjs'

/** Counters of what the replica did with the messages it was given. */
export interface ReplicaStats {
  applied: number
  checkpointsApplied: number
  duplicates: number
  pending: number
  rejected: Record<RejectReason, number>
  logOverflows: number
  checkpointsMade: number
  compactions: number
}

export type ApplyResult =
  | { status: 'applied', kind: DocKind, host: string }
  | { status: 'duplicate' }
  | { status: 'pending', kind: DocKind, host: string }
  | { status: 'rejected', reason: RejectReason, detail: string }

export interface ReplicaInit {
  signer: Signer
  verify: Verifier
  /** Mesh name; part of every signature, so messages of another mesh never verify. */
  mesh: string
  limits?: Partial<RegistryLimits>
  /** Wall clock in ms (incarnation numbers); injected for tests and the simulator. */
  now?: () => number
  /** Log of rejections (never thrown to callers). */
  log?: (msg: string) => void
  /** Return false to refuse documents of a host (e.g. pruned and not heard from since). */
  acceptHost?: (host: string, kind: DocKind) => boolean
}

/** Below this many log bytes the owner never makes a new checkpoint. */
export const CHECKPOINT_LOG_BYTES_MIN = 64 * 1024

export interface ReplicaHooks {
  /** A document was created or replaced by a newer incarnation (`previous` set). */
  onDocAttached?: (doc: HostDoc, previous: HostDoc | undefined) => void
  /** A document was dropped (pruned). */
  onDocDetached?: (doc: HostDoc) => void
  /** A gap was found in a host's updates: the caller should run anti-entropy (e.g. with the sender). */
  onGap?: (kind: DocKind, host: string) => void
  /** A document's checkpoint changed (`replaced`: a new document or incarnation): persist it. */
  onCheckpoint?: (doc: HostDoc, cp: SignedBlob, replaced: boolean) => void
  /** An update was applied (local or remote): persist it. */
  onUpdate?: (doc: HostDoc, update: SignedBlob) => void
}

function docKey (kind: DocKind, host: string): string {
  return kind + '/' + host
}

export class Replica {
  readonly id: string
  readonly limits: RegistryLimits
  readonly stats: ReplicaStats
  readonly hooks: ReplicaHooks = {}
  private readonly docs = new Map<string, HostDoc>()
  private readonly pendingByKey = new Map<string, Map<string, SignedBlob>>()
  private readonly signer: Signer
  private readonly verifier: Verifier
  private readonly context: Uint8Array
  private readonly now: () => number
  private readonly logFn: (msg: string) => void
  private readonly acceptHost: (host: string, kind: DocKind) => boolean
  /** Local documents' update capture: set while a local transaction runs. */
  private captured: Uint8Array[] | undefined

  constructor (init: ReplicaInit) {
    this.signer = init.signer
    this.verifier = init.verify
    this.id = init.signer.id
    this.context = signingContext(init.mesh)
    this.limits = { ...DEFAULT_LIMITS, ...init.limits }
    this.now = init.now ?? Date.now
    this.logFn = init.log ?? (() => {})
    this.acceptHost = init.acceptHost ?? (() => true)
    this.stats = {
      applied: 0,
      checkpointsApplied: 0,
      duplicates: 0,
      pending: 0,
      rejected: { decode: 0, signature: 0, stale: 0, own: 0, 'host-refused': 0, 'hosts-max': 0, 'pending-overflow': 0, yjs: 0 },
      logOverflows: 0,
      checkpointsMade: 0,
      compactions: 0
    }
  }

  // ---- local documents -------------------------------------------------------------------------

  /**
   * The local host's document of `kind`, created on first use with a fresh incarnation (or restored by
   * {@link restore}). Returns the Yjs document to read; write only through {@link transact}.
   */
  local (kind: DocKind): HostDoc {
    const key = docKey(kind, this.id)
    let d = this.docs.get(key)
    if (d === undefined) {
      d = this.newLocalDoc(kind, this.now(), undefined)
    }
    return d
  }

  private newLocalDoc (kind: DocKind, incarnation: number, copyFrom: HostDoc | undefined): HostDoc {
    const d = new HostDoc(kind, this.id, incarnation)
    if (copyFrom !== undefined) {
      d.doc.transact(() => {
        for (const [name, type] of copyFrom.doc.share) {
          if (!(type instanceof Y.AbstractType)) continue
          const src = copyFrom.doc.getMap(name)
          const dst = d.doc.getMap(name)
          for (const [k, v] of src) dst.set(k, v)
        }
      }, ORIGIN_LOCAL)
    }
    this.watchLocal(d)
    d.adoptCheckpoint(this.makeCheckpoint(d))
    const key = docKey(kind, this.id)
    const previous = this.docs.get(key)
    this.docs.set(key, d)
    this.hooks.onDocAttached?.(d, previous)
    this.hooks.onCheckpoint?.(d, d.checkpoint!, true)
    return d
  }

  private watchLocal (d: HostDoc): void {
    d.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === ORIGIN_LOCAL && this.captured !== undefined) this.captured.push(update)
    })
  }

  /**
   * Runs `fn` as one Yjs transaction on the local document of `kind` and returns the signed update to
   * publish, or undefined when nothing changed. Makes a new checkpoint when the log has grown past half
   * the checkpoint's size.
   */
  transact (kind: DocKind, fn: (doc: Y.Doc) => void): SignedBlob | undefined {
    const d = this.local(kind)
    const captured: Uint8Array[] = []
    this.captured = captured
    try {
      d.doc.transact(() => fn(d.doc), ORIGIN_LOCAL)
    } finally {
      this.captured = undefined
    }
    if (captured.length === 0) return undefined
    const update = captured.length === 1 ? captured[0]! : Y.mergeUpdates(captured)
    d.seq += 1
    const blob = this.signBlob(TAG_UPDATE, d, d.seq, update)
    this.stats.applied++
    const cpBytes = d.checkpoint?.bytes.length ?? 0
    d.appendLog(blob, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
    this.hooks.onUpdate?.(d, blob)
    if (d.logBytes > Math.max(CHECKPOINT_LOG_BYTES_MIN, cpBytes / 2)) {
      d.adoptCheckpoint(this.makeCheckpoint(d))
      this.hooks.onCheckpoint?.(d, d.checkpoint!, false)
    }
    return blob
  }

  /**
   * Compaction (R9): moves the local document of `kind` to a new incarnation holding only its live
   * values, so deleted entries leave nothing behind. Other replicas replace their copy when they see the
   * new incarnation's checkpoint (anti-entropy). Returns the new checkpoint.
   */
  compact (kind: DocKind): SignedBlob {
    const old = this.local(kind)
    const inc = Math.max(this.now(), old.incarnation + 1)
    const d = this.newLocalDoc(kind, inc, old)
    old.doc.destroy()
    this.stats.compactions++
    return d.checkpoint!
  }

  private makeCheckpoint (d: HostDoc): SignedBlob {
    this.stats.checkpointsMade++
    return this.signBlob(TAG_CHECKPOINT, d, d.seq, Y.encodeStateAsUpdate(d.doc))
  }

  private signBlob (tag: SignedBlob['tag'], d: HostDoc, seq: number, payload: Uint8Array): SignedBlob {
    const signed = encodeSignedPart(tag, d.kind, d.host, d.incarnation, seq, payload)
    const signature = this.signer.sign(withContext(this.context, signed))
    const bytes = attachSignature(signed, signature)
    return { tag, kind: d.kind, host: d.host, incarnation: d.incarnation, seq, payload, signature, signed: bytes.subarray(0, signed.length), bytes }
  }

  // ---- remote messages -------------------------------------------------------------------------

  /**
   * Decodes, verifies and applies one signed update or checkpoint from the network or disk.
   * `authenticatedBy`: the peer id whose signature over exactly these bytes the transport already
   * verified (a gossipsub StrictSign message's author); when it is the document's host, the inner
   * signature check is skipped as redundant. Relayed bytes (anti-entropy) are always verified.
   */
  apply (bytes: Uint8Array, authenticatedBy?: string): ApplyResult {
    const tag = peekTag(bytes)
    let blob: SignedBlob
    try {
      const max = tag === TAG_CHECKPOINT ? this.limits.checkpointBytesMax : this.limits.updateBytesMax
      blob = decodeSignedBlob(bytes, max)
    } catch (err) {
      return this.reject('decode', (err as DecodeError).message)
    }
    return this.applyBlob(blob, authenticatedBy)
  }

  applyBlob (b: SignedBlob, authenticatedBy?: string): ApplyResult {
    if (b.host === this.id) {
      // Our own document comes back from a relay: we are its only writer and already hold it.
      return this.reject('own', `own document ${b.kind}/${b.host}`)
    }
    const key = docKey(b.kind, b.host)
    const doc = this.docs.get(key)
    // Cheap checks before the signature.
    if (doc !== undefined) {
      if (b.incarnation < doc.incarnation) return this.reject('stale', `incarnation ${b.incarnation} < ${doc.incarnation}`)
      if (b.incarnation === doc.incarnation) {
        if (b.tag === TAG_UPDATE && b.seq <= doc.seq) { this.stats.duplicates++; return { status: 'duplicate' } }
        if (b.tag === TAG_CHECKPOINT && b.seq <= doc.checkpointSeq) { this.stats.duplicates++; return { status: 'duplicate' } }
      }
    } else if (!this.acceptHost(b.host, b.kind)) {
      return this.reject('host-refused', `documents of ${b.host} are refused`)
    }
    if (authenticatedBy !== b.host && !this.verifier(b.host, withContext(this.context, b.signed), b.signature)) {
      return this.reject('signature', `bad signature on ${b.kind}/${b.host}#${b.seq}`)
    }
    let result: ApplyResult
    if (b.tag === TAG_CHECKPOINT) {
      result = this.applyCheckpoint(b, doc)
    } else {
      result = this.applyUpdate(b, doc)
    }
    if (result.status === 'applied') this.drainPending(key)
    return result
  }

  private applyCheckpoint (b: SignedBlob, doc: HostDoc | undefined): ApplyResult {
    if (doc === undefined || b.incarnation > doc.incarnation) {
      if (doc === undefined && this.countDocs(b.kind) >= this.limits.hostsMax) {
        return this.reject('hosts-max', `already holding ${this.limits.hostsMax} ${b.kind} documents`)
      }
      const fresh = new HostDoc(b.kind, b.host, b.incarnation)
      try {
        Y.applyUpdate(fresh.doc, b.payload, ORIGIN_REMOTE)
      } catch (err) {
        fresh.doc.destroy()
        return this.reject('yjs', `checkpoint of ${b.kind}/${b.host}: ${(err as Error).message}`)
      }
      fresh.seq = b.seq
      fresh.adoptCheckpoint(b)
      const key = docKey(b.kind, b.host)
      this.docs.set(key, fresh)
      this.prunePendingBelow(key, b.incarnation, b.seq)
      this.stats.checkpointsApplied++
      this.hooks.onDocAttached?.(fresh, doc)
      this.hooks.onCheckpoint?.(fresh, b, true)
      doc?.doc.destroy()
      return { status: 'applied', kind: b.kind, host: b.host }
    }
    // Same incarnation, newer checkpoint.
    if (b.seq > doc.seq) {
      try {
        Y.applyUpdate(doc.doc, b.payload, ORIGIN_REMOTE)
      } catch (err) {
        return this.reject('yjs', `checkpoint of ${b.kind}/${b.host}: ${(err as Error).message}`)
      }
      doc.seq = b.seq
    }
    doc.adoptCheckpoint(b)
    this.stats.checkpointsApplied++
    this.hooks.onCheckpoint?.(doc, b, false)
    return { status: 'applied', kind: b.kind, host: b.host }
  }

  private applyUpdate (b: SignedBlob, doc: HostDoc | undefined): ApplyResult {
    if (doc === undefined || b.incarnation > doc.incarnation || b.seq > doc.seq + 1) {
      return this.hold(b)
    }
    try {
      Y.applyUpdate(doc.doc, b.payload, ORIGIN_REMOTE)
    } catch (err) {
      return this.reject('yjs', `update ${b.kind}/${b.host}#${b.seq}: ${(err as Error).message}`)
    }
    doc.seq = b.seq
    if (!doc.appendLog(b, this.limits.logUpdatesPerDocMax, this.limits.logBytesPerDocMax)) {
      if (doc.log.length === 0 && !doc.logIntact) this.stats.logOverflows++
    }
    this.hooks.onUpdate?.(doc, b)
    this.stats.applied++
    return { status: 'applied', kind: b.kind, host: b.host }
  }

  private hold (b: SignedBlob): ApplyResult {
    const key = docKey(b.kind, b.host)
    let p = this.pendingByKey.get(key)
    if (p === undefined) {
      if (this.pendingByKey.size >= this.limits.hostsMax) return this.reject('pending-overflow', 'too many documents with pending updates')
      p = new Map()
      this.pendingByKey.set(key, p)
    }
    if (p.size >= this.limits.pendingUpdatesPerDocMax) {
      this.hooks.onGap?.(b.kind, b.host)
      return this.reject('pending-overflow', `${p.size} pending updates for ${key}`)
    }
    p.set(b.incarnation + ':' + b.seq, b)
    this.stats.pending++
    this.hooks.onGap?.(b.kind, b.host)
    return { status: 'pending', kind: b.kind, host: b.host }
  }

  private drainPending (key: string): void {
    const p = this.pendingByKey.get(key)
    if (p === undefined) return
    for (;;) {
      const doc = this.docs.get(key)
      if (doc === undefined) return
      this.prunePendingBelow(key, doc.incarnation, doc.seq)
      const next = p.get(doc.incarnation + ':' + (doc.seq + 1))
      if (next === undefined) break
      p.delete(doc.incarnation + ':' + (doc.seq + 1))
      if (this.applyUpdate(next, doc).status !== 'applied') break
    }
    if (p.size === 0) this.pendingByKey.delete(key)
  }

  private prunePendingBelow (key: string, incarnation: number, seq: number): void {
    const p = this.pendingByKey.get(key)
    if (p === undefined) return
    for (const [k, b] of p) {
      if (b.incarnation < incarnation || (b.incarnation === incarnation && b.seq <= seq)) p.delete(k)
    }
    if (p.size === 0) this.pendingByKey.delete(key)
  }

  private reject (reason: RejectReason, detail: string): ApplyResult {
    this.stats.rejected[reason]++
    this.logFn(`rejected (${reason}): ${detail}`)
    return { status: 'rejected', reason, detail }
  }

  // ---- anti-entropy ----------------------------------------------------------------------------

  /** What this replica holds, for a peer to compute what we lack. */
  digestEntries (): DigestEntry[] {
    const out: DigestEntry[] = []
    for (const d of this.docs.values()) {
      out.push({ kind: d.kind, host: d.host, incarnation: d.incarnation, seq: d.seq, checkpointSeq: d.checkpointSeq })
    }
    return out
  }

  digest (): Uint8Array {
    return encodeDigest(this.digestEntries().slice(0, this.limits.digestEntriesMax))
  }

  /**
   * Given a peer's digest, the signed messages it lacks, in order. Throws {@link DecodeError} on a
   * malformed digest. `bytesMax` bounds the answer (the caller streams it); the rest waits for the next
   * round.
   */
  missingFor (digestBytes: Uint8Array, bytesMax = Number.MAX_SAFE_INTEGER): Uint8Array[] {
    const theirs = new Map<string, DigestEntry>()
    for (const e of decodeDigest(digestBytes, this.limits.digestEntriesMax)) theirs.set(docKey(e.kind, e.host), e)
    const out: Uint8Array[] = []
    let bytes = 0
    // Our own documents first: we are their source of truth.
    const docs = [...this.docs.values()].sort((a, b) => Number(b.host === this.id) - Number(a.host === this.id))
    for (const d of docs) {
      const t = theirs.get(docKey(d.kind, d.host))
      for (const b of d.missingFor(t?.incarnation, t?.seq ?? 0, t?.checkpointSeq ?? 0)) {
        if (bytes + b.bytes.length > bytesMax && out.length > 0) return out
        out.push(b.bytes)
        bytes += b.bytes.length
      }
    }
    return out
  }

  /** The digest entry of one document, if held. */
  entry (kind: DocKind, host: string): DigestEntry | undefined {
    const d = this.docs.get(docKey(kind, host))
    if (d === undefined) return undefined
    return { kind, host, incarnation: d.incarnation, seq: d.seq, checkpointSeq: d.checkpointSeq }
  }

  // ---- documents -------------------------------------------------------------------------------

  get (kind: DocKind, host: string): HostDoc | undefined {
    return this.docs.get(docKey(kind, host))
  }

  /** All documents of a kind. */
  * all (kind: DocKind): IterableIterator<HostDoc> {
    for (const d of this.docs.values()) if (d.kind === kind) yield d
  }

  countDocs (kind: DocKind): number {
    let n = 0
    for (const d of this.docs.values()) if (d.kind === kind) n++
    return n
  }

  /** Drops a remote host's document (pruning a dead host). The local documents cannot be dropped. */
  drop (kind: DocKind, host: string): boolean {
    if (host === this.id) return false
    const key = docKey(kind, host)
    const d = this.docs.get(key)
    this.pendingByKey.delete(key)
    if (d === undefined) return false
    this.docs.delete(key)
    this.hooks.onDocDetached?.(d)
    d.doc.destroy()
    return true
  }

  /** Number of updates waiting for a gap to fill, over all documents. */
  pendingCount (): number {
    let n = 0
    for (const p of this.pendingByKey.values()) n += p.size
    return n
  }

  /**
   * Everything needed to rebuild this replica after a restart: for each document, its checkpoint and
   * the log after it (the host's own signed bytes, re-verified on restore).
   */
  * exportDocs (): IterableIterator<{ kind: DocKind, host: string, incarnation: number, blobs: Uint8Array[] }> {
    for (const d of this.docs.values()) {
      const blobs: Uint8Array[] = []
      if (d.checkpoint !== undefined) blobs.push(d.checkpoint.bytes)
      if (d.logIntact) for (const u of d.log) blobs.push(u.bytes)
      yield { kind: d.kind, host: d.host, incarnation: d.incarnation, blobs }
    }
  }

  /**
   * Restores one document from blobs saved by {@link exportDocs}. The local host's own documents are
   * restored as local (writable) documents after their signatures are checked.
   */
  restore (blobs: readonly Uint8Array[]): void {
    for (const bytes of blobs) {
      const max = peekTag(bytes) === TAG_CHECKPOINT ? this.limits.checkpointBytesMax : this.limits.updateBytesMax
      const b = decodeSignedBlob(bytes, max)
      if (b.host !== this.id) {
        this.applyBlob(b)
        continue
      }
      if (!this.verifier(b.host, withContext(this.context, b.signed), b.signature)) {
        throw new DecodeError('restore', `bad signature on own ${b.kind} document`)
      }
      const key = docKey(b.kind, b.host)
      let d = this.docs.get(key)
      // A local document nobody wrote to yet (seq 0, made at start-up) gives way to the saved one.
      if (b.tag === TAG_CHECKPOINT && (d === undefined || b.incarnation > d.incarnation || (d.seq === 0 && b.incarnation !== d.incarnation))) {
        const fresh = new HostDoc(b.kind, b.host, b.incarnation)
        Y.applyUpdate(fresh.doc, b.payload, ORIGIN_REMOTE)
        fresh.seq = b.seq
        fresh.adoptCheckpoint(b)
        this.watchLocal(fresh)
        this.docs.set(key, fresh)
        this.hooks.onDocAttached?.(fresh, d)
        d?.doc.destroy()
        continue
      }
      if (d === undefined || b.incarnation !== d.incarnation || b.seq !== d.seq + 1 || b.tag !== TAG_UPDATE) continue
      Y.applyUpdate(d.doc, b.payload, ORIGIN_REMOTE)
      d.seq = b.seq
      d.appendLog(b, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
      d = undefined
    }
  }
}
