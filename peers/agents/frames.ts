/**
 * The frames of the agents' protocol `/agora/<mesh>/agents/1.0.0` (peers/PROTOCOL.md, section 4): the
 * auction and vote frames (peers/economy/frames.ts) and the agents' own: requests (plain or of a named
 * protocol), messages, and task hints. Nothing a frame claims is trusted beyond its shape: the sender's
 * host is the connection's authenticated peer, a named sender agent is checked against the registry, and
 * a task hint is only a reason to read the task from the log.
 */
import { decodeChannelRequest } from './channel.js'
import { FRAME_ID_CHARS_MAX, validFrame as validEconomyFrame, type AuctionFrame } from '../economy/frames.js'

/** Longest wait a request frame may ask for (ms). */
export const REQUEST_TIMEOUT_MS_MAX = 60_000
/** A protocol name (`peer.agents.protocol(name)`) and a group topic: the characters of strong variable names. */
export const PROTOCOL_NAME_RE = /^[A-Za-z0-9._:/-]{1,128}$/

export type AgentFrame =
  | { t: 'request', to: string, from?: string, p?: string, body: unknown, ms: number }
  | { t: 'message', to: string, from?: string, body: unknown }
  /** A task attempt was assigned to `agent` hosted here: the host reads the task from the log (protocols/tasks). */
  | { t: 'task', task: number, attempt: number, agent: string }

export type ChannelFrame = AuctionFrame | AgentFrame

const id = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= FRAME_ID_CHARS_MAX
const optId = (v: unknown): boolean => v === undefined || id(v)
const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1

/**
 * The shape rules of an agent frame: `to`, `from`, `agent` ids as in auction frames (1..256 characters);
 * `p` a protocol name; `ms` an integer in 1..{@link REQUEST_TIMEOUT_MS_MAX}; `body` present (any JSON,
 * bounded by the frame); `task` and `attempt` safe integers >= 1.
 */
export function validAgentFrame (f: unknown): f is AgentFrame {
  if (f === null || typeof f !== 'object' || Array.isArray(f)) return false
  const o = f as Record<string, unknown>
  if (o.t === 'request') {
    return id(o.to) && optId(o.from) && (o.p === undefined || (typeof o.p === 'string' && PROTOCOL_NAME_RE.test(o.p))) &&
      Number.isSafeInteger(o.ms) && (o.ms as number) >= 1 && (o.ms as number) <= REQUEST_TIMEOUT_MS_MAX && 'body' in o
  }
  if (o.t === 'message') return id(o.to) && optId(o.from) && 'body' in o
  if (o.t === 'task') return count(o.task) && count(o.attempt) && id(o.agent)
  return false
}

/** Any frame of the channel: an agent frame or an auction/vote frame. */
export function validChannelFrame (f: unknown): f is ChannelFrame {
  return validAgentFrame(f) || validEconomyFrame(f)
}

/** Decodes a request frame of the agents' protocol (host side); throws DecodeError (`ERR_DECODE`). */
export function decodeAgentsRequest (bytes: Uint8Array): { id: number, f: ChannelFrame } {
  return decodeChannelRequest(bytes, validChannelFrame) as { id: number, f: ChannelFrame }
}
