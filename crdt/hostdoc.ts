/**
 * One host peer's document of one kind, as held by a replica: the Yjs document, the contiguous sequence
 * number applied, the latest signed checkpoint and the signed updates after it (kept so this replica can
 * relay the host's own signed bytes in anti-entropy), and the out-of-order updates waiting for a gap.
 */
import * as Y from 'yjs'
import { ownBytes } from './codec.js'
import type { DocKind, SignedBlob } from './codec.js'

/** Transaction origin of updates applied from the network. */
export const ORIGIN_REMOTE = Symbol('agora:remote')
/** Transaction origin of the local host's own writes. */
export const ORIGIN_LOCAL = Symbol('agora:local')

export class HostDoc {
  readonly kind: DocKind
  readonly host: string
  readonly incarnation: number
  readonly doc: Y.Doc
  /** Invariant: updates 1..seq of this incarnation (or the checkpoint covering them) are applied to `doc`. */
  seq = 0
  /** Invariant: checkpoint === undefined || checkpoint.seq <= seq. */
  checkpoint: SignedBlob | undefined
  /**
   * Signed updates after the checkpoint. Invariant: when `logIntact`, log[i].seq === checkpointSeq + 1 + i
   * and the last one has seq === this.seq.
   */
  log: SignedBlob[] = []
  logBytes = 0
  /**
   * Bytes of the signed updates applied after the checkpoint (exact while the log is intact; after the
   * log overflowed, an upper bound until a checkpoint covers `seq`). Counted against `docBytesMax`.
   */
  updateBytes = 0
  /** When this replica last asked for a newer checkpoint of this document (replica.ts). */
  checkpointWantedAt: number | undefined
  /** False after the log overflowed its limits: this replica can then relay only its checkpoint. */
  logIntact = true

  constructor (kind: DocKind, host: string, incarnation: number, doc?: Y.Doc) {
    this.kind = kind
    this.host = host
    this.incarnation = incarnation
    // gc stays on: deleted values shrink to GC ranges; compaction (a new incarnation) drops them entirely.
    // A guid of our own: Yjs otherwise draws a uuidv4 with lib0's random, one getRandomValues call per hex
    // digit (2% of the CPU of forming a 70-peer mesh, each peer making a document per host it learns);
    // the guid only names subdocuments, which host documents do not have, and never travels in updates.
    this.doc = doc ?? new Y.Doc({ gc: true, guid: `${kind}/${host}` })
  }

  get checkpointSeq (): number {
    return this.checkpoint?.seq ?? 0
  }

  /** What this document takes on this replica (and in its store): its checkpoint and the updates after it. */
  get storedBytes (): number {
    return (this.checkpoint?.bytes.length ?? 0) + this.updateBytes
  }

  /** Bytes of the applied updates after `seq` (an upper bound once the log overflowed). */
  updateBytesAfter (seq: number): number {
    if (seq >= this.seq) return 0
    if (this.logIntact && (this.log.length === 0 || this.log[0]!.seq <= seq + 1)) {
      let n = 0
      for (const u of this.log) if (u.seq > seq) n += u.bytes.length
      return n
    }
    return this.updateBytes
  }

  /** Records a newer checkpoint, dropping log entries it covers. */
  adoptCheckpoint (cp: SignedBlob): void {
    this.updateBytes = this.updateBytesAfter(cp.seq)
    this.checkpoint = ownBytes(cp)
    const keep = this.log.filter(u => u.seq > cp.seq)
    this.log = keep
    this.logBytes = keep.reduce((n, u) => n + u.bytes.length, 0)
    this.logIntact = keep.length === 0 ? cp.seq === this.seq : keep[0]!.seq === cp.seq + 1
  }

  /** Appends an update just applied (seq === this.seq), trimming the log when over its limits. */
  appendLog (u: SignedBlob, updatesMax: number, bytesMax: number): boolean {
    this.updateBytes += u.bytes.length
    if (!this.logIntact) return false
    this.log.push(ownBytes(u))
    this.logBytes += u.bytes.length
    if (this.log.length > updatesMax || this.logBytes > bytesMax) {
      this.log = []
      this.logBytes = 0
      this.logIntact = false
      return false
    }
    return true
  }

  /**
   * The signed messages a replica at (`incarnation`, `seq`, `checkpointSeq`) lacks, in the order to
   * apply them; `undefined` incarnation means the other replica has no document of this host.
   * Returns [] when this replica cannot help (it is not ahead, or its log cannot cover the gap).
   */
  missingFor (incarnation: number | undefined, seq: number, checkpointSeq: number): SignedBlob[] {
    if (incarnation !== undefined && incarnation > this.incarnation) return []
    const sameInc = incarnation === this.incarnation
    const from = sameInc ? seq : -1 // -1: needs the base state
    const cp = this.checkpoint
    if (sameInc && seq >= this.seq) {
      // Up to date, but holding an older checkpoint: ours lets it drop the updates it covers (which
      // otherwise pile up in its store and count against docBytesMax there).
      return cp !== undefined && checkpointSeq < cp.seq ? [cp] : []
    }
    const out: SignedBlob[] = []
    const needCheckpoint = from < this.checkpointSeq || (sameInc && checkpointSeq < this.checkpointSeq) || from === -1
    let next: number
    if (needCheckpoint) {
      if (cp === undefined) return [] // no base state to offer: a relay that saw only updates
      out.push(cp)
      next = cp.seq + 1
    } else {
      next = from + 1
    }
    if (next > this.seq) return out
    if (!this.logIntact || this.log.length === 0) return out
    const first = this.log[0]!.seq
    if (first > next) return out
    for (let i = next - first; i < this.log.length; i++) out.push(this.log[i]!)
    return out
  }
}
