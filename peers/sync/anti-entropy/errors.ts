import { AgoraError } from '../../../src/base/errors.js'

/**
 * Reason the running exchanges are aborted with when anti-entropy stops (an exchange that fails with it
 * reports it in `sync:failed`).
 */
export class SyncStoppedError extends AgoraError {
  static override readonly name = 'SyncStoppedError'
  constructor () {
    super('ERR_SYNC_STOPPED', 'sync engine stopped')
  }
}

/** Reason an inbound exchange is refused with: `syncConcurrencyMax` are running, or anti-entropy is stopped. */
export class SyncBusyError extends AgoraError {
  static override readonly name = 'SyncBusyError'
  constructor () {
    super('ERR_SYNC_BUSY', 'sync: too many concurrent exchanges')
  }
}
