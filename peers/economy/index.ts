/**
 * The economy on a live peer (`peer.economy`): ledger and auction commands through the Raft group,
 * reads of the replicated economy, bid handlers for local agents, and the live auction flow whose bid
 * requests travel over the agents' channel (peers/agents).
 *
 * ```ts
 * await peer.economy.mint('gpu-buyer', 1000, { owner: hostPeerId })     // an authority peer
 * host.economy.handle('gpu-buyer', (req) => ({ amount: 40 }))           // a bidder's host
 * const { auction } = await peer.economy.runAuction(
 *   { id: 'gpu-1h', mechanism: 'vickrey', items: ['gpu'], durationMs: 30_000 },
 *   { seller: 'sellerAccount', bidders: { capability: 'gpu' } })
 * ```
 *
 * | file | concept |
 * |---|---|
 * | `economy.ts` | {@link PeerEconomy}: commands, reads, bid handlers, `runAuction`, result notices |
 * | `frames.ts` | the auction and vote frames and their shape rules (carried by peers/agents/channel.ts) |
 *
 * The state machine itself is protocols/market inside the mesh application (protocols/mesh); wire
 * protocols: peers/PROTOCOL.md.
 */
export * from './economy.js'
export { decodeAuctionRequest, validFrame, type AuctionFrame } from './frames.js'
