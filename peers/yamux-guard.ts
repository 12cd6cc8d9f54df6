/**
 * A guard around one unguarded write in @chainsafe/libp2p-yamux 8.0.1 (the latest release): opening an
 * outbound stream queues a microtask that sends the stream's first window update, and when the
 * connection under the muxer closes before that microtask runs (a peer hanging up on a probe's dial, a
 * connection pruned), the write throws a StreamStateError that nothing catches: an uncaught exception,
 * which ends the process. Seen killing a daemon of a 50-process cluster as its connections churned.
 *
 * The guard wraps YamuxStream.prototype.sendWindowUpdate once per process: a StreamStateError there
 * means the stream's connection is gone, so the update has nowhere to go; it is dropped and counted in
 * {@link yamuxGuardStats}. Any other error is thrown as before.
 */
import { YamuxStream } from '@chainsafe/libp2p-yamux/stream'

export const yamuxGuardStats = { windowUpdatesDropped: 0 }

let installed = false

/** Installs the guard (idempotent). */
export function guardYamuxWindowUpdates (): void {
  if (installed) return
  installed = true
  const proto = YamuxStream.prototype as unknown as { sendWindowUpdate: (this: unknown, ...args: unknown[]) => void }
  const original = proto.sendWindowUpdate
  proto.sendWindowUpdate = function (this: unknown, ...args: unknown[]): void {
    try {
      original.apply(this, args)
    } catch (err) {
      if ((err as Error | undefined)?.name !== 'StreamStateError') throw err
      yamuxGuardStats.windowUpdatesDropped++
    }
  }
}
