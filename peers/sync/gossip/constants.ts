/** Topic of gossip. */

/**
 * Gossipsub topic of signed document updates: `/agora/<mesh>/crdt/2`. Version 2: gossipsub signs nothing
 * (StrictNoSign); each message is a blob signed by its host (version 1 peers, StrictSign, cannot talk to it).
 */
export function crdtTopic (mesh: string): string {
  return `/agora/${mesh}/crdt/2`
}

/**
 * Blobs of one own document (its checkpoint, then its log) published when a first peer subscribes to the
 * topic; the rest is left to anti-entropy (a document's log is short: it is checkpointed past half the
 * checkpoint's size).
 */
export const ANNOUNCE_BLOBS_MAX = 64
/** A host's own publishes of blobs a receiver already holds that it forwards nonetheless: burst (its announce, twice)... */
export const REPUBLISH_QUOTA_BURST = 4 * ANNOUNCE_BLOBS_MAX
/** ... refilled at this many a second. */
export const REPUBLISH_QUOTA_PER_SECOND = 1
