/**
 * The frames of the auction protocol `/agora/<mesh>/auction/2.0.0` (peers/PROTOCOL.md, section 4) and
 * their shape rules. Nothing a frame claims is trusted (hosts read the auction from the log): the rules
 * only keep what a host handles small and well-typed.
 */
import type { AuctionResultNotice, BidRequest } from './economy.js'
import { decodeChannelRequest } from '../agents/channel.js'

/** Longest auction, agent and seller id in a frame. */
export const FRAME_ID_CHARS_MAX = 256
/** Most agents named in a result frame. */
export const RESULT_AGENTS_MAX = 10_000

export type AuctionFrame =
  | { t: 'bid-request', req: BidRequest }
  | { t: 'reveal-request', auction: string, agent: string }
  | { t: 'result', notice: AuctionResultNotice, agents: string[] }
  /** A coordination vote (peers/coordination): the host reads the vote from the log and asks the agent's onVote handler. */
  | { t: 'vote-request', vote: number, agent: string, openedIndex?: number }

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)
const id = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= FRAME_ID_CHARS_MAX

/**
 * The shape rules of a frame: `auction`, `agent`, `seller` non-empty strings of at most
 * {@link FRAME_ID_CHARS_MAX} characters; `closesAt` a finite number; `spec` an object; `openedIndex`
 * absent or a safe integer >= 0; `agents` an array of at most {@link RESULT_AGENTS_MAX} ids; `notice` an
 * object whose `auction` follows the id rule.
 */
export function validFrame (f: unknown): f is AuctionFrame {
  if (!isObject(f)) return false
  if (f.t === 'bid-request') {
    const r = f.req
    return isObject(r) && id(r.auction) && id(r.agent) && id(r.seller) && typeof r.closesAt === 'number' && Number.isFinite(r.closesAt) && isObject(r.spec) &&
      (r.openedIndex === undefined || (Number.isSafeInteger(r.openedIndex) && (r.openedIndex as number) >= 0))
  }
  if (f.t === 'reveal-request') return id(f.auction) && id(f.agent)
  if (f.t === 'vote-request') return Number.isSafeInteger(f.vote) && (f.vote as number) >= 1 && id(f.agent) && (f.openedIndex === undefined || (Number.isSafeInteger(f.openedIndex) && (f.openedIndex as number) >= 0))
  if (f.t === 'result') return Array.isArray(f.agents) && f.agents.length <= RESULT_AGENTS_MAX && f.agents.every(id) && isObject(f.notice) && id(f.notice.auction)
  return false
}

/** Decodes a request frame of the auction protocol (host side); throws DecodeError (`ERR_DECODE`). */
export function decodeAuctionRequest (bytes: Uint8Array): { id: number, f: AuctionFrame } {
  return decodeChannelRequest(bytes, validFrame) as { id: number, f: AuctionFrame }
}
