/**
 * Persistence of the replicated documents in the peer's data dir (LevelDB through classic-level): for
 * every host document, its latest signed checkpoint and the signed updates after it, exactly the bytes
 * the host signed, so a restarted peer re-verifies what it loads and goes on relaying the same bytes.
 *
 * Keys (UTF-8):  `doc/<kind>/<host>/cp` → checkpoint;  `doc/<kind>/<host>/u/<seq, 16 digits>` → update.
 * Writes are queued and flushed in one batch (every `flushIntervalMs` or when the queue reaches
 * `queueOpsMax`); `flush()` and `close()` write everything. Eventual data is best-effort durable: a crash
 * loses at most the last flush interval, which anti-entropy then restores from the other peers (and,
 * for the local host's own documents, a lost tail means a few of its latest writes are lost).
 */
import type { ClassicLevel } from 'classic-level'
import type { DocKind, SignedBlob } from '../crdt/codec.js'
import type { HostDoc } from '../crdt/hostdoc.js'

export const DOC_PREFIX = 'doc/'

type Op = { type: 'put', key: string, value: Uint8Array } | { type: 'del', key: string }

export interface DocStoreOptions {
  /** Flush queued writes at least this often (ms). Default 50. */
  flushIntervalMs?: number
  /** Flush as soon as this many operations are queued. Default 4096. */
  queueOpsMax?: number
}

function seqKey (seq: number): string {
  return String(seq).padStart(16, '0')
}

export class DocStore {
  private db: ClassicLevel<string, Uint8Array>
  private queue: Op[] = []
  private timer: ReturnType<typeof setTimeout> | undefined
  private flushing: Promise<void> = Promise.resolve()
  private readonly flushIntervalMs: number
  private readonly queueOpsMax: number
  /** Write failures (logged by the caller through `onError`). */
  errors = 0
  onError: (err: unknown) => void = () => {}

  constructor (db: ClassicLevel<string, Uint8Array>, options: DocStoreOptions = {}) {
    this.db = db
    this.flushIntervalMs = options.flushIntervalMs ?? 50
    this.queueOpsMax = options.queueOpsMax ?? 4096
  }

  /** Switches to a (re)opened database and writes what was queued while it was closed. */
  attach (db: ClassicLevel<string, Uint8Array>): void {
    this.db = db
    if (this.queue.length > 0 || this.rangeDeletes.length > 0) void this.flush()
  }

  private prefix (kind: DocKind, host: string): string {
    return `${DOC_PREFIX}${kind}/${host}/`
  }

  /** Records a document's new checkpoint (dropping the updates it covers, or everything of an older incarnation). */
  saveCheckpoint (doc: HostDoc, cp: SignedBlob, replacedIncarnation: boolean): void {
    const p = this.prefix(doc.kind, doc.host)
    if (replacedIncarnation) this.enqueueRangeDelete(p + 'u/', p + 'u/~')
    else this.enqueueRangeDelete(p + 'u/', p + 'u/' + seqKey(cp.seq) + '~')
    this.enqueue({ type: 'put', key: p + 'cp', value: cp.bytes })
  }

  saveUpdate (u: SignedBlob): void {
    this.enqueue({ type: 'put', key: this.prefix(u.kind, u.host) + 'u/' + seqKey(u.seq), value: u.bytes })
  }

  /** Removes a pruned document. */
  removeDoc (kind: DocKind, host: string): void {
    const p = this.prefix(kind, host)
    this.enqueueRangeDelete(p, p + '~')
  }

  private readonly rangeDeletes: Array<{ gte: string, lt: string }> = []

  private enqueueRangeDelete (gte: string, lt: string): void {
    // Queued puts inside the range are superseded by the delete.
    this.queue = this.queue.filter(op => op.key < gte || op.key >= lt)
    this.rangeDeletes.push({ gte, lt })
    this.schedule()
  }

  private enqueue (op: Op): void {
    this.queue.push(op)
    if (this.queue.length >= this.queueOpsMax) void this.flush()
    else this.schedule()
  }

  private schedule (): void {
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flush()
    }, this.flushIntervalMs)
  }

  /** Writes everything queued so far. */
  async flush (): Promise<void> {
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined }
    // While the database is closed (peer stopped), writes stay queued for the next attach().
    if (this.db.status !== 'open') return
    const ranges = this.rangeDeletes.splice(0)
    const ops = this.queue
    this.queue = []
    const prev = this.flushing
    this.flushing = (async () => {
      await prev
      if (ranges.length === 0 && ops.length === 0) return
      try {
        // Range deletes first: they were queued before the puts that follow them.
        for (const r of ranges) await this.db.clear(r)
        if (ops.length > 0) await this.db.batch(ops)
      } catch (err) {
        this.errors++
        this.onError(err)
      }
    })()
    await this.flushing
  }

  /** Every saved document as the list of blobs to restore (checkpoint first, then updates by seq). */
  async load (): Promise<Uint8Array[][]> {
    const docs = new Map<string, Uint8Array[]>()
    for await (const [key, value] of this.db.iterator({ gte: DOC_PREFIX, lt: DOC_PREFIX + '~' })) {
      const rest = key.slice(DOC_PREFIX.length)
      const cut = rest.indexOf('/', rest.indexOf('/') + 1)
      const docKey = rest.slice(0, cut)
      let list = docs.get(docKey)
      if (list === undefined) { list = []; docs.set(docKey, list) }
      // 'cp' sorts before 'u/...', so the checkpoint comes first.
      list.push(value)
    }
    return [...docs.values()]
  }
}
