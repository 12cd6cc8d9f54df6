/**
 * Pieces every route module of the HTTP API shares: the request context a module's `handle` gets, body
 * validation with zod (a bad body is `400 ERR_BAD_REQUEST` naming the field in `error.path`), query
 * integers, and the signal of a client that went away.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { z } from 'zod'
import { AgoraError } from '../base/errors.js'
import { AbortedError } from '../../peers/coordination/errors.js'

export interface RouteContext {
  method: string
  /** The path's segments, each percent-decoded (`/v1/agents/a%2Fb` is `['v1', 'agents', 'a/b']`). */
  parts: string[]
  url: URL
  req: IncomingMessage
  res: ServerResponse
  body: () => Promise<unknown>
  send: (status: number, body: unknown) => void
}

/** Validates `body` against `schema`; the first issue becomes a 400 naming its path. */
export function parseBody<T> (schema: z.ZodType<T>, body: unknown, what: string): T {
  const r = schema.safeParse(body ?? {})
  if (r.success) return r.data
  const issue = r.error.issues[0]!
  const keys = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys : []
  const path = [...issue.path.map(String), ...keys].join('.') || '(body)'
  throw new AgoraError('ERR_BAD_REQUEST', `${what}: ${path}: ${issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message}`, { path })
}

/** A non-negative integer query parameter, capped at `max` (undefined when absent); else a 400 naming it. */
export function nonNegInt (v: string | null, name: string, max: number): number | undefined {
  if (v === null) return undefined
  if (!/^[0-9]+$/.test(v)) throw new AgoraError('ERR_BAD_REQUEST', `${name} must be a non-negative integer`, { path: name })
  return Math.min(Number(v), max)
}

/** Aborts (with AbortedError) when the client goes away before its answer was sent. */
export function clientGone (res: ServerResponse): AbortSignal {
  const c = new AbortController()
  res.once('close', () => { if (!res.writableFinished) c.abort(new AbortedError('the request (its client went away)')) })
  return c.signal
}
