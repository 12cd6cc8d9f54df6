/**
 * A replica: every host document this peer holds (its own, which it writes and signs, and the others',
 * which it verifies, applies and relays). It is transport-free: the peer layer feeds it the bytes that
 * arrive by gossip or anti-entropy and sends what it returns. See crdt/README.md for the design.
 *
 * Ownership (R4) is certain by construction: the document of host P is changed only by messages that P
 * signed, so no message can touch another host's agents; a bad signature rejects the message whole.
 */
import * as Y from 'yjs'
import { DecodeError, LimitExceededError } from '../src/base/errors.js'
import { TAG_CHECKPOINT, TAG_UPDATE, attachSignature, decodeDigest, decodeSignedBlob, encodeDigest, encodeSignedPart, ownBytes, peekTag } from './codec.js'
import { HostDoc, ORIGIN_LOCAL, ORIGIN_REMOTE } from './hostdoc.js'
import { DEFAULT_LIMITS } from './limits.js'
import { contextBefore, signingContext, withContext } from './signing.js'
import type { DigestEntry, DocKind, SignedBlob } from './codec.js'
import type { RegistryLimits } from './limits.js'
import type { Signer, Verifier } from './signing.js'

export type RejectReason =
  | 'decode' | 'signature' | 'stale' | 'own' | 'host-refused' | 'hosts-max' | 'pending-overflow' | 'yjs'
  | 'doc-quota' | 'rate-quota' | 'invalid-value'

/** Reasons that are a host's quota (`docBytesMax`, `hostUpdateBytesPerSecondMax`), not a malformed message. */
export const QUOTA_REASONS: ReadonlySet<RejectReason> = new Set<RejectReason>(['doc-quota', 'rate-quota'])

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
  /** Bytes of signed blobs refused for a host's quota (`doc-quota`, `rate-quota`). */
  quotaRejectedBytes: number
}

/** What one host's documents take on this replica and how its quotas stand (see {@link Replica.hostUsage}). */
export interface HostUsage {
  host: string
  /** Bytes held per document (checkpoint, updates after it, updates waiting for a gap). */
  docBytes: { reg: number, var: number }
  /** A blob of this host was refused for `docBytesMax` since its document's last checkpoint within the quota. */
  overQuota: boolean
  /** A blob of this host was refused for `hostUpdateBytesPerSecondMax` within the last {@link RATE_LIMITED_STATUS_MS}. */
  rateLimited: boolean
  /** Blobs and bytes of this host refused for its quotas. */
  rejectedBlobs: number
  rejectedBytes: number
}

/** How long a host shows as `rateLimited` after its last blob refused for the rate quota. */
export const RATE_LIMITED_STATUS_MS = 5000
/** At most one quota report (`update:rejected`) per host and reason in this period; the rest are only counted. */
export const QUOTA_REPORT_INTERVAL_MS = 1000

/** Per-host quota state: a token bucket of bytes, and which documents went over `docBytesMax`. */
class HostQuota {
  tokens: number
  at: number
  readonly over = new Set<DocKind>()
  rateLimitedAt: number | undefined
  rejectedBlobs = 0
  rejectedBytes = 0
  readonly reportedAt = new Map<RejectReason, number>()

  constructor (burst: number, now: number) {
    this.tokens = burst
    this.at = now
  }

  /** Takes `bytes` from the bucket (refilled at `perSecond` up to `burst`). A full bucket admits one blob larger than itself (the debt refills). */
  take (bytes: number, now: number, perSecond: number, burst: number): boolean {
    const elapsed = Math.max(0, now - this.at)
    this.tokens = Math.min(burst, this.tokens + elapsed * perSecond / 1000)
    this.at = now
    if (this.tokens < Math.min(bytes, burst)) return false
    this.tokens -= bytes
    return true
  }
}

export type ApplyResult =
  | { status: 'applied', kind: DocKind, host: string }
  | { status: 'duplicate', kind?: DocKind, host?: string }
  | { status: 'pending', kind: DocKind, host: string }
  | { status: 'rejected', reason: RejectReason, detail: string, kind?: DocKind, host?: string }

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

/** Bytes of the buffer a replica verifies small blobs' signatures in (larger ones get their own). */
export const CONTEXT_SCRATCH_BYTES = 16 * 1024

/** Below this many log bytes the owner never makes a new checkpoint. */
export const CHECKPOINT_LOG_BYTES_MIN = 64 * 1024
/**
 * A receiver whose updates after its checkpoint of a document outgrew that checkpoint asks for a newer one
 * (the `onGap` hook: anti-entropy) at most this often per document.
 */
export const CHECKPOINT_PULL_INTERVAL_MS = 1000

export interface ReplicaHooks {
  /** A document was created, or replaced (`previous` set) by a newer incarnation or a checkpoint past what we held. */
  onDocAttached?: (doc: HostDoc, previous: HostDoc | undefined) => void
  /** A document was dropped (pruned). */
  onDocDetached?: (doc: HostDoc) => void
  /** A gap was found in a host's updates: the caller should run anti-entropy (e.g. with the sender). */
  onGap?: (kind: DocKind, host: string) => void
  /** A host went over its document quota (`over`) or back within it (a checkpoint within the quota). */
  onQuota?: (host: string, over: boolean) => void
  /** A document's checkpoint changed (`replaced`: the document was replaced, see onDocAttached): persist it. */
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
  /** Quota state per remote host (bounded: see {@link quotaOf}). */
  private readonly quotas = new Map<string, HostQuota>()
  private readonly signer: Signer
  private readonly verifier: Verifier
  private readonly context: Uint8Array
  private readonly now: () => number
  private readonly logFn: (msg: string) => void
  private readonly acceptHost: (host: string, kind: DocKind) => boolean
  /** Set while {@link restore} applies stored blobs (not rate-limited). */
  private restoring = false
  /** Local documents' update capture: set while a local transaction runs. */
  private captured: Uint8Array[] | undefined
  /** The signing context followed by room for a signed part of up to {@link CONTEXT_SCRATCH_BYTES} in all (see {@link contextual}). */
  private readonly scratch: Uint8Array

  constructor (init: ReplicaInit) {
    this.signer = init.signer
    this.verifier = init.verify
    this.id = init.signer.id
    this.context = signingContext(init.mesh)
    this.scratch = new Uint8Array(Math.max(CONTEXT_SCRATCH_BYTES, this.context.length))
    this.scratch.set(this.context, 0)
    this.limits = { ...DEFAULT_LIMITS, ...init.limits }
    this.now = init.now ?? Date.now
    this.logFn = init.log ?? (() => {})
    this.acceptHost = init.acceptHost ?? (() => true)
    this.stats = {
      applied: 0,
      checkpointsApplied: 0,
      duplicates: 0,
      pending: 0,
      rejected: { decode: 0, signature: 0, stale: 0, own: 0, 'host-refused': 0, 'hosts-max': 0, 'pending-overflow': 0, yjs: 0, 'doc-quota': 0, 'rate-quota': 0, 'invalid-value': 0 },
      logOverflows: 0,
      checkpointsMade: 0,
      compactions: 0,
      quotaRejectedBytes: 0
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
   * Throws {@link LimitExceededError} (`docBytesMax`) when the local document of `kind` takes half of
   * `docBytesMax` or more, after a checkpoint: receivers count the updates they apply after the last
   * checkpoint they hold, so the other half is their room until they fetch a newer one. Writes that grow
   * the document call it first; removals do not (they are how a host gets back under it, with
   * {@link compact}).
   */
  checkLocalRoom (kind: DocKind): void {
    const d = this.local(kind)
    const room = Math.floor(this.limits.docBytesMax / 2)
    if (d.storedBytes < room) return
    if (d.updateBytes > 0) {
      d.adoptCheckpoint(this.makeCheckpoint(d))
      this.hooks.onCheckpoint?.(d, d.checkpoint!, false)
      if (d.storedBytes < room) return
    }
    throw new LimitExceededError('docBytesMax', room, d.storedBytes, `this host's ${kind} document (local writes stop at half of docBytesMax)`)
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

  /**
   * The bytes a signature covers: the context, then `signed`. A small blob's go into the scratch buffer (no
   * allocation per verification; the verifier is synchronous and keeps nothing: see {@link Verifier}); a
   * large one's are read in place when a copy of the context precedes them ({@link contextBefore}).
   */
  private contextual (signed: Uint8Array): Uint8Array {
    const n = this.context.length + signed.length
    if (n > this.scratch.length) return contextBefore(this.context, signed) ?? withContext(this.context, signed)
    this.scratch.set(signed, this.context.length)
    return this.scratch.subarray(0, n)
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
    // Nothing a host's data provokes (a value a reader chokes on) escapes: refused and counted.
    try {
      return this.applyBlob(blob, authenticatedBy)
    } catch (err) {
      return this.reject('invalid-value', `${blob.kind}/${blob.host}#${blob.seq}: ${(err as Error).message}`, blob)
    }
  }

  /**
   * Whether `bytes` are a blob its host signed. {@link apply} answers `duplicate` from the header alone
   * (before the signature: it keeps nothing), so a caller that acts on a duplicate's bytes (gossip
   * forwards the first copy of one) checks them here first.
   */
  authentic (bytes: Uint8Array): boolean {
    let b: SignedBlob
    try {
      b = decodeSignedBlob(bytes, peekTag(bytes) === TAG_CHECKPOINT ? this.limits.checkpointBytesMax : this.limits.updateBytesMax)
    } catch {
      return false
    }
    // The very bytes held (checked when they arrived): no second signature check.
    const d = this.docs.get(docKey(b.kind, b.host))
    if (d !== undefined && d.incarnation === b.incarnation) {
      const held = b.tag === TAG_CHECKPOINT ? d.checkpoint : d.log.find(u => u.seq === b.seq)
      if (held !== undefined && held.tag === b.tag && held.seq === b.seq && Buffer.compare(held.bytes, bytes) === 0) return true
    }
    return this.verifier(b.host, this.contextual(b.signed), b.signature)
  }

  /**
   * Counts a value of `host`'s `kind` document that a reader (the registry index, the variable store)
   * refused as not plain JSON (`stats.rejected['invalid-value']`); the value reads as absent on every
   * replica. Not an {@link ApplyResult}: the document itself was applied.
   */
  refuseValue (kind: DocKind, host: string, detail: string): void {
    this.stats.rejected['invalid-value']++
    this.logFn(`refused value (invalid-value) in ${kind}/${host}: ${detail}`)
  }

  /** Runs a reader's hook on a remote document; what it throws is counted as `invalid-value`, never thrown. */
  private guard (kind: DocKind, host: string, fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.refuseValue(kind, host, `reader threw: ${(err as Error).message}`)
    }
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
        if (b.tag === TAG_UPDATE && b.seq <= doc.seq) { this.stats.duplicates++; return { status: 'duplicate', kind: b.kind, host: b.host } }
        if (b.tag === TAG_CHECKPOINT && b.seq <= doc.checkpointSeq) { this.stats.duplicates++; return { status: 'duplicate', kind: b.kind, host: b.host } }
      }
    } else if (!this.acceptHost(b.host, b.kind)) {
      return this.reject('host-refused', `documents of ${b.host} are refused`)
    }
    if (authenticatedBy !== b.host && !this.verifier(b.host, this.contextual(b.signed), b.signature)) {
      return this.reject('signature', `bad signature on ${b.kind}/${b.host}#${b.seq}`, b)
    }
    // Quotas, on authentic blobs only (a forger cannot spend a host's allowance), before anything is kept.
    const refused = this.checkQuota(b, doc)
    if (refused !== undefined) return refused
    let result: ApplyResult
    if (b.tag === TAG_CHECKPOINT) {
      result = this.applyCheckpoint(b, doc)
    } else {
      result = this.applyUpdate(b, doc)
    }
    if (result.status === 'applied') this.drainPending(key)
    return result
  }

  /**
   * The host's quotas for blob `b`: the document it goes to may not pass `docBytesMax` (a checkpoint
   * replaces what it covers; an update or a held one adds to it), and the host's byte rate may not pass
   * `hostUpdateBytesPerSecondMax` (bucket `hostUpdateBytesBurstMax`). Returns the rejection, if any.
   */
  private checkQuota (b: SignedBlob, doc: HostDoc | undefined): ApplyResult | undefined {
    const size = b.bytes.length
    const q = this.quotaOf(b.host)
    const key = docKey(b.kind, b.host)
    let projected: number
    if (b.tag === TAG_CHECKPOINT) {
      projected = doc === undefined || b.incarnation > doc.incarnation || b.seq >= doc.seq ? size : size + doc.updateBytesAfter(b.seq)
    } else if (q.over.has(b.kind) && (doc === undefined || b.incarnation === doc.incarnation)) {
      // Over quota stays over until a checkpoint within the quota replaces the document.
      projected = Number.POSITIVE_INFINITY
    } else {
      projected = (doc?.storedBytes ?? 0) + this.pendingBytes(key) + size
    }
    if (projected > this.limits.docBytesMax) {
      const wasOver = q.over.size > 0
      q.over.add(b.kind)
      // Updates waiting for a gap of a document over quota would wait for nothing.
      this.pendingByKey.delete(key)
      if (!wasOver) this.hooks.onQuota?.(b.host, true)
      const held = projected === Number.POSITIVE_INFINITY ? 'document over quota' : `${projected} bytes held would pass docBytesMax (${this.limits.docBytesMax})`
      return this.refuse(q, 'doc-quota', `${b.kind}/${b.host}#${b.seq}: ${held}`, b)
    }
    const now = this.now()
    if (!this.restoring && !q.take(size, now, this.limits.hostUpdateBytesPerSecondMax, this.limits.hostUpdateBytesBurstMax)) {
      q.rateLimitedAt = now
      return this.refuse(q, 'rate-quota', `${b.kind}/${b.host}#${b.seq}: ${size} bytes over hostUpdateBytesPerSecondMax (${this.limits.hostUpdateBytesPerSecondMax})`, b)
    }
    return undefined
  }

  private refuse (q: HostQuota, reason: RejectReason, detail: string, b: SignedBlob): ApplyResult {
    q.rejectedBlobs++
    q.rejectedBytes += b.bytes.length
    this.stats.quotaRejectedBytes += b.bytes.length
    return this.reject(reason, detail, b)
  }

  /** The quota state of `host`, created on first use; bounded by twice `hostsMax` (hosts holding no document go first). */
  private quotaOf (host: string): HostQuota {
    let q = this.quotas.get(host)
    if (q !== undefined) return q
    if (this.quotas.size >= 2 * this.limits.hostsMax) {
      let victim: string | undefined
      for (const h of this.quotas.keys()) {
        if (this.docs.get(docKey('reg', h)) === undefined && this.docs.get(docKey('var', h)) === undefined) { victim = h; break }
      }
      this.quotas.delete(victim ?? this.quotas.keys().next().value!)
    }
    q = new HostQuota(this.limits.hostUpdateBytesBurstMax, this.now())
    this.quotas.set(host, q)
    return q
  }

  /** A checkpoint within the quota now holds `kind` of `host`: it is no longer over quota for it. */
  private withinQuota (kind: DocKind, host: string): void {
    const q = this.quotas.get(host)
    if (q === undefined || !q.over.delete(kind)) return
    if (q.over.size === 0) this.hooks.onQuota?.(host, false)
  }

  private pendingBytes (key: string): number {
    const p = this.pendingByKey.get(key)
    if (p === undefined) return 0
    let n = 0
    for (const b of p.values()) n += b.bytes.length
    return n
  }

  /** Bytes held for a document: checkpoint, updates after it, updates waiting for a gap. */
  docBytes (kind: DocKind, host: string): number {
    const key = docKey(kind, host)
    return (this.docs.get(key)?.storedBytes ?? 0) + this.pendingBytes(key)
  }

  /** A blob of `host`'s `kind` document was refused for `docBytesMax` since its last checkpoint within the quota. */
  overQuota (kind: DocKind, host: string): boolean {
    return this.quotas.get(host)?.over.has(kind) === true
  }

  /** What `host`'s documents take here and how its quotas stand. */
  hostUsage (host: string): HostUsage {
    const q = this.quotas.get(host)
    return {
      host,
      docBytes: { reg: this.docBytes('reg', host), var: this.docBytes('var', host) },
      overQuota: q !== undefined && q.over.size > 0,
      rateLimited: q?.rateLimitedAt !== undefined && this.now() - q.rateLimitedAt < RATE_LIMITED_STATUS_MS,
      rejectedBlobs: q?.rejectedBlobs ?? 0,
      rejectedBytes: q?.rejectedBytes ?? 0
    }
  }

  /**
   * True at most once per {@link QUOTA_REPORT_INTERVAL_MS} for a host and quota reason: the network layer
   * reports (`update:rejected`) the first refusal and counts the rest, so a flood is not also an event flood.
   */
  shouldReport (host: string, reason: RejectReason): boolean {
    const q = this.quotas.get(host)
    if (q === undefined) return true
    const now = this.now()
    const last = q.reportedAt.get(reason)
    if (last !== undefined && now - last < QUOTA_REPORT_INTERVAL_MS) return false
    q.reportedAt.set(reason, now)
    return true
  }

  private applyCheckpoint (b: SignedBlob, doc: HostDoc | undefined): ApplyResult {
    // A new document, a new incarnation, or a checkpoint past what we hold: the checkpoint is the whole
    // document, so it replaces ours (applying it onto ours would keep whatever ours had that it has not:
    // a host could grow its document past the quota with partial checkpoints).
    if (doc === undefined || b.incarnation > doc.incarnation || b.seq > doc.seq) {
      if (doc === undefined && this.countDocs(b.kind) >= this.limits.hostsMax) {
        return this.reject('hosts-max', `already holding ${this.limits.hostsMax} ${b.kind} documents`)
      }
      const fresh = new HostDoc(b.kind, b.host, b.incarnation)
      try {
        Y.applyUpdate(fresh.doc, b.payload, ORIGIN_REMOTE)
      } catch (err) {
        fresh.doc.destroy()
        return this.reject('yjs', `checkpoint of ${b.kind}/${b.host}: ${(err as Error).message}`, b)
      }
      fresh.seq = b.seq
      fresh.adoptCheckpoint(b)
      const key = docKey(b.kind, b.host)
      this.docs.set(key, fresh)
      this.prunePendingBelow(key, b.incarnation, b.seq)
      this.stats.checkpointsApplied++
      this.withinQuota(b.kind, b.host)
      this.guard(b.kind, b.host, () => this.hooks.onDocAttached?.(fresh, doc))
      this.hooks.onCheckpoint?.(fresh, b, true)
      doc?.doc.destroy()
      return { status: 'applied', kind: b.kind, host: b.host }
    }
    // Same incarnation, a checkpoint at or below what we hold: kept to relay (it covers part of our log).
    doc.adoptCheckpoint(b)
    this.stats.checkpointsApplied++
    if (doc.storedBytes <= this.limits.docBytesMax) this.withinQuota(b.kind, b.host)
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
      return this.reject('yjs', `update ${b.kind}/${b.host}#${b.seq}: ${(err as Error).message}`, b)
    }
    doc.seq = b.seq
    if (!doc.appendLog(b, this.limits.logUpdatesPerDocMax, this.limits.logBytesPerDocMax)) {
      if (doc.log.length === 0 && !doc.logIntact) this.stats.logOverflows++
    }
    // The updates after our checkpoint outgrew it: the host has made a newer one (it does when its log
    // passes half its checkpoint), and fetching it keeps this document far from docBytesMax.
    if (doc.updateBytes > Math.max(CHECKPOINT_LOG_BYTES_MIN, doc.checkpoint?.bytes.length ?? 0)) {
      const now = this.now()
      if (doc.checkpointWantedAt === undefined || now - doc.checkpointWantedAt >= CHECKPOINT_PULL_INTERVAL_MS) {
        doc.checkpointWantedAt = now
        this.hooks.onGap?.(b.kind, b.host)
      }
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
    p.set(b.incarnation + ':' + b.seq, ownBytes(b))
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

  private reject (reason: RejectReason, detail: string, b?: SignedBlob): ApplyResult {
    this.stats.rejected[reason]++
    this.logFn(`rejected (${reason}): ${detail}`)
    return b === undefined ? { status: 'rejected', reason, detail } : { status: 'rejected', reason, detail, kind: b.kind, host: b.host }
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
    this.withinQuota(kind, host)
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
        // What was stored passed the rate quota when it arrived; the document quota still applies.
        this.restoring = true
        try { this.applyBlob(b) } finally { this.restoring = false }
        continue
      }
      if (!this.verifier(b.host, this.contextual(b.signed), b.signature)) {
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
