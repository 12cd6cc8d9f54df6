/**
 * The agents' working surface on a live peer: `peer.agents` (one request interface per agent: requests,
 * messages, named protocols, group topics, and the channel that also carries bid and vote requests).
 * Durable tasks are `peer.tasks` (peers/tasks).
 *
 * | file | concept |
 * |---|---|
 * | `service.ts` | {@link PeerAgents}: handlers, request/send/protocol, capability routing, publish/subscribe, the channel's router |
 * | `channel.ts` | one multiplexed stream per (requester, host) pair with backpressure; its frame decoders |
 * | `frames.ts` | the agents' frames and their shape rules (with the auction and vote frames) |
 * | `errors.ts` | {@link AgentError} and its codes |
 * | `types.ts` | the public types of peer.agents and peer.tasks |
 */
export * from './service.js'
export * from './errors.js'
export * from './types.js'
export { Channel, serveChannel, decodeChannelReply, decodeChannelRequest, CHANNEL_FRAME_BYTES_MAX, CHANNEL_PENDING_MAX, CHANNEL_INFLIGHT_MAX, CHANNEL_IDLE_MS, type Reply } from './channel.js'
export { decodeAgentsRequest, validAgentFrame, validChannelFrame, PROTOCOL_NAME_RE, REQUEST_TIMEOUT_MS_MAX, type AgentFrame, type ChannelFrame } from './frames.js'
