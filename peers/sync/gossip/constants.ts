/** Topic of gossip. */

/** Gossipsub topic of signed document updates (StrictSign): `/agora/<mesh>/crdt/1`. */
export function crdtTopic (mesh: string): string {
  return `/agora/${mesh}/crdt/1`
}
