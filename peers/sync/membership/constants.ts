/** Constants of membership. */

/** A mesh member is a peer that speaks the anti-entropy protocol of the mesh. */
export { syncProtocol as memberProtocol } from '../anti-entropy/constants.js'

/** Default of `connectionsTarget` (the peer option's default). */
export const DEFAULT_CONNECTIONS_TARGET = 16

