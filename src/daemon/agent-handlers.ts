/**
 * Agents written in any language get every handler of `peer.agents.handle` over the daemon's HTTP API:
 * one registration per agent names the kinds of calls it takes (`request`, `message`, `task`, `vote`,
 * `bid`, `protocol:<name>`) and how it takes them:
 *
 * - with a `callback` URL: for each call the daemon POSTs the call's JSON there ({@link CallView}) and takes
 *   what the JSON response says: `{ "reply": <json> }`, or `{ "error": { "message": "..." } }` (or
 *   `{ "error": "..." }`). Loopback URLs only unless the daemon's `allowRemoteBidCallbacks` is set (one
 *   switch for every agent callback); the answer must come within the registration's `timeoutMs` (a task
 *   call: by the attempt's deadline) and be at most {@link CALLBACK_RESPONSE_BYTES_MAX} bytes.
 * - without one: long-poll. The calls wait in the agent's inbox (at most {@link AGENT_INBOX_MAX}); a GET of
 *   the inbox returns the calls not yet handed out (a call handed out and not answered within
 *   {@link INBOX_REDELIVER_MS} is handed out again), waiting up to `waitMs` for one; a POST answers one by
 *   its `callId`. An unanswered call ends at its `expiresAt`.
 *
 * Each kind maps onto a handler of `peer.agents.handle`: `request` → onRequest (the reply is the
 * requester's reply, an error its `ERR_HANDLER`), `message` → onMessage (the answer acknowledges it),
 * `task` → onTask (the reply completes the attempt, an error fails it), `vote` → onVote (the reply is the
 * choice: an option or null), `bid` → onBidRequest (the reply is the bid or null), `protocol:<name>` →
 * `protocols[name]`. The bidder and voter routes of earlier versions (bidders.ts, voters.ts) are views of
 * the same registrations: a bidder is a `bid` binding, a voter a `vote` binding, kept with the callback
 * format of their routes (`{requestId, ...request}` answered `{bid}` / `{choice}`).
 *
 * Over the limits a call is refused with `ERR_LIMIT_EXCEEDED` naming the limit, which the caller sees as
 * `ERR_OVERLOADED`; too many long-polls at once is 429 `ERR_TOO_MANY_POLLS`.
 *
 * With a data dir every registration is kept in `<dataDir>/handlers.json` (written to a temporary file,
 * fsynced, then renamed over the old one) and restored when the daemon starts; the `bidders.json` and
 * `voters.json` of earlier versions are read once into it when it does not exist yet (and ignored after).
 * A saved registration whose agent is no longer hosted here, or whose callback is no longer allowed, is
 * dropped with a warning.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { open, rename } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { AgoraError, LimitExceededError, TimeoutError } from '../base/errors.js'
import { describeJsonProblem, jsonInputProblem } from '../base/input.js'
import type { Peer } from '../../peers/peer.js'
import type { AgentHandlers, Sender, TaskContext, TaskInput } from '../../peers/agents/types.js'
import { PROTOCOL_NAME_RE, REQUEST_TIMEOUT_MS_MAX } from '../../peers/agents/frames.js'
import { AgentError, agentErrorOf } from '../../peers/agents/errors.js'
import { COORD_LIMITS } from '../../protocols/coordination/types.js'

/** Bytes of a callback's response body. */
export const CALLBACK_RESPONSE_BYTES_MAX = 64 * 1024
/** Calls waiting in one long-polling agent's inbox (all kinds). */
export const AGENT_INBOX_MAX = 256
/** Calls pending at once over all agents: waiting in inboxes or at a callback. */
export const AGENT_CALLS_PENDING_MAX = 4096
/** Long-poll GETs waiting at once (all agents, all routes). */
export const INBOX_POLLERS_MAX = 256
/** Long-poll GETs waiting at once for one agent (all its routes): one client cannot take every slot of {@link INBOX_POLLERS_MAX}. */
export const INBOX_POLLERS_PER_AGENT_MAX = 8
/** Seconds a client is told to wait (`Retry-After`) after a 429 `ERR_TOO_MANY_POLLS` or a 503 `ERR_OVERLOADED`. */
export const POLL_RETRY_AFTER_S = 1
/**
 * Task answers kept for an attempt that this daemon runs again after a restart (the worker answered a
 * call id of the daemon's earlier run): at most this many at once, each for at most
 * {@link HELD_TASK_ANSWER_MS}.
 */
export const HELD_TASK_ANSWERS_MAX = 1024
export const HELD_TASK_ANSWER_MS = 60_000
/** Longest `waitMs` of a long-poll. */
export const INBOX_POLL_WAIT_MS_MAX = 30_000
/** A call handed to a long-poll and not answered within this is handed out again (inbox route only). */
export const INBOX_REDELIVER_MS = 30_000
/** Default and longest `timeoutMs` of a registration (a task call lasts until its attempt's deadline). */
export const HANDLER_TIMEOUT_MS_DEFAULT = 5000
export const HANDLER_TIMEOUT_MS_MAX = REQUEST_TIMEOUT_MS_MAX
/** Longest a task call waits for its agent (the attempt's deadline decides within it). */
export const TASK_CALL_MS_MAX = 24 * 3600 * 1000
/** Kinds one agent's registration may name. */
export const KINDS_PER_AGENT_MAX = 64
/** Agents with HTTP handlers on one daemon. */
export const HANDLED_AGENTS_MAX = 10_000

/** The file, in the data dir, that keeps every registration across restarts. */
export const HANDLERS_FILE = 'handlers.json'
/** The files of earlier versions, read once into {@link HANDLERS_FILE}. */
export const LEGACY_FILES = { bidder: 'bidders.json', voter: 'voters.json' } as const
const FILE_VERSION = 1

/** The kinds of calls; `protocol:<name>` for a named protocol. */
export const BASE_KINDS = ['request', 'message', 'task', 'vote', 'bid'] as const
/** Families of kinds, as metrics and stats count them. */
export type KindFamily = typeof BASE_KINDS[number] | 'protocol'

/** Which route made a binding: its callback format (`handler`: {@link CallView}; `bidder`/`voter`: the routes of earlier versions). */
export type Via = 'handler' | 'bidder' | 'voter'

/** One kind of call of one agent and how it is answered. */
export interface Binding { agent: string, kind: string, via: Via, mode: 'callback' | 'poll', callback?: string, timeoutMs: number }

export interface HandlerSpec { callback?: string, timeoutMs?: number }

/** The view of the bidder and voter routes. */
export interface HandlerInfo { agent: string, mode: 'callback' | 'poll', callback?: string, timeoutMs: number }

/** A call as the inbox and `handler` callbacks give it. */
export interface CallView {
  callId: string
  kind: string
  agent: string
  /** The request's payload, the message, the task's payload, the VoteRequest, the BidRequest. */
  payload: unknown
  /** The sender (request, message, protocol). */
  from?: Sender
  protocol?: string
  /** A task call's attempt: `{ id, attempt, submitter, deadline }`. */
  task?: Omit<TaskInput, 'payload'>
  /** When the daemon stops waiting for the answer (ms since the epoch). */
  expiresAt: number
}

/** An answer: the reply, or an error (`reply` absent is null). */
export interface Answer { reply?: unknown, error?: unknown }

export interface KindStats { callbacks: number, callbackErrors: number, polled: number, answered: number, timedOut: number, refused: number }

export interface HandlerStoreOptions {
  allowRemoteCallbacks: boolean
  /** Calls waiting in one long-polling agent's inbox (default {@link AGENT_INBOX_MAX}; the daemon's `agentInboxMax`). */
  inboxMax?: number
  /** Where registrations are kept across restarts (a data dir; default: nowhere, in memory). */
  dataDir?: string
  /** Where restore problems are reported. */
  warn?: (msg: string, fields?: Record<string, unknown>) => void
}

/** What the store needs of a peer: is an agent hosted here, and where its handlers go. */
export interface HandlerTarget {
  isLocal: (agent: string) => boolean
  /** Gives `agent` these handlers (replacing its earlier ones), or none. */
  apply: (agent: string, handlers: AgentHandlers | undefined) => void
  /**
   * Runs attempt `attempt` of task `task` on `agent` again when the log says it is current and assigned
   * to `agent` on this peer: `taken` (its task call reaches the agent's handler before this resolves),
   * `running` (it runs here already), `stale` (the log says it is not current here). Without it, task
   * answers of an earlier run of the daemon are unknown calls.
   */
  rerunTask?: (agent: string, task: number, attempt: number) => Promise<'taken' | 'running' | 'stale'>
}

/**
 * A task call's id names its attempt, so that its answer is still understood after a restart: hex like
 * every call id (workers may take ids for hex), 16 random digits then the task (14) and the attempt (8).
 */
const TASK_CALL_ID = /^[0-9a-f]{16}([0-9a-f]{14})([0-9a-f]{8})$/

function taskCallId (task: number, attempt: number): string {
  return randomBytes(8).toString('hex') + task.toString(16).padStart(14, '0') + attempt.toString(16).padStart(8, '0')
}

/** A callback failed: an error status, a body that is not the expected JSON. */
export class CallbackFailedError extends AgoraError {
  static override readonly name = 'CallbackFailedError'
  constructor (message: string) {
    super('ERR_CALLBACK_FAILED', message)
  }
}

/**
 * The agent answered a call with an error: the caller's `ERR_HANDLER`, a failed task (not retried when the
 * answer said `retry: false`).
 */
export class AgentAnsweredError extends AgoraError {
  static override readonly name = 'AgentAnsweredError'
  readonly retry: boolean | undefined
  constructor (message: string, retry?: boolean) {
    super('ERR_HANDLER', message)
    this.retry = retry
  }
}

/** The registration file could not be written; the registration did not change. */
export class HandlersStoreError extends AgoraError {
  static override readonly name = 'HandlersStoreError'
  constructor (file: string, cause: unknown) {
    super('ERR_HANDLERS_STORE', `cannot write ${file}: ${(cause as Error).message}`, { file }, { cause })
  }
}

/** Too many long-polls wait at once, over all agents or for one agent (429, `Retry-After`). */
export class TooManyPollsError extends AgoraError {
  static override readonly name = 'TooManyPollsError'
  constructor (agent?: string) {
    super('ERR_TOO_MANY_POLLS', agent === undefined
      ? `at most ${INBOX_POLLERS_MAX} long-polls wait at once (INBOX_POLLERS_MAX); poll again later`
      : `at most ${INBOX_POLLERS_PER_AGENT_MAX} long-polls wait at once for agent ${agent} (INBOX_POLLERS_PER_AGENT_MAX); poll again later`,
    { limit: agent === undefined ? 'INBOX_POLLERS_MAX' : 'INBOX_POLLERS_PER_AGENT_MAX', retryAfterS: POLL_RETRY_AFTER_S })
  }
}

interface Call {
  id: string
  binding: Binding
  view: CallView
  deliveredAt?: number
  settle: (answer: Answer) => void
  fail: (err: Error) => void
  progress?: TaskContext['progress']
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost)$/i

/** A kind's family (`protocol:x` → `protocol`); undefined when it is no kind. */
export function kindFamily (kind: string): KindFamily | undefined {
  if ((BASE_KINDS as readonly string[]).includes(kind)) return kind as KindFamily
  if (kind.startsWith('protocol:') && PROTOCOL_NAME_RE.test(kind.slice(9))) return 'protocol'
  return undefined
}

/** A choice as a vote takes it: an option name, or null to abstain. */
export function isChoice (v: unknown): v is string | null {
  return v === null || (typeof v === 'string' && v.length > 0 && v.length <= COORD_LIMITS.idCharsMax)
}

/** The store of a daemon's peer. */
export function handlerStore (peer: Pick<Peer, 'registry' | 'agents'> & Partial<Pick<Peer, 'tasks'>>, options: HandlerStoreOptions): AgentHandlerStore {
  return new AgentHandlerStore({
    isLocal: (agent) => peer.registry.localAgents().some(a => a.id === agent),
    apply: (agent, handlers) => { if (handlers === undefined) peer.agents.unhandle(agent); else peer.agents.handle(agent, handlers) },
    ...(peer.tasks !== undefined && 'id' in peer ? { rerunTask: async (agent, task, attempt) => await rerunTask(peer as Pick<Peer, 'agents' | 'tasks' | 'id'>, agent, task, attempt) } : {})
  }, options)
}

/**
 * The attempt is current and assigned to `agent` on this peer (the log says so): the peer's task service
 * runs it again, through the same task hint a dispatcher sends (it reads the log again before it runs it).
 */
async function rerunTask (peer: Pick<Peer, 'agents' | 'tasks' | 'id'>, agent: string, task: number, attempt: number): Promise<'taken' | 'running' | 'stale'> {
  for (let round = 0; ; round++) {
    const t = await peer.tasks.get(task)
    const cur = t?.record.history[t.record.history.length - 1]
    if (t === undefined || t.state !== 'assigned' || t.attempts !== attempt || t.agent !== agent || cur?.host !== peer.id) return 'stale'
    const r = await peer.agents.hintTask(peer.id, { task, attempt, agent }, RERUN_HINT_MS)
    if (!r.ok) throw new AgoraError(r.code, r.message)
    if (r.outcome === 'taken' || r.outcome === 'running') return r.outcome
    // Ignored although the log says it is current: this peer's replica is behind (just restarted).
    if (round >= RERUN_ROUNDS) return 'stale'
    await new Promise(resolve => setTimeout(resolve, RERUN_PAUSE_MS))
  }
}

/** How long a re-run of an attempt may take to start; how often, and how far apart, it is tried while the replica catches up. */
const RERUN_HINT_MS = 10_000
const RERUN_ROUNDS = 20
const RERUN_PAUSE_MS = 100

export class AgentHandlerStore {
  private readonly bindings = new Map<string, Map<string, Binding>>()
  private readonly inbox = new Map<string, Call[]>()
  private readonly byId = new Map<string, Call>()
  /** Task calls at a callback: their progress reports (the callback's agent may report while it works). */
  private readonly reporting = new Map<string, { agent: string, progress: TaskContext['progress'] }>()
  private readonly waiters = new Map<string, Set<() => void>>()
  private pollers = 0
  /** Long-polls waiting per agent (bounded by {@link INBOX_POLLERS_PER_AGENT_MAX}). */
  private readonly agentPollers = new Map<string, number>()
  /** Answers to task calls of an earlier run, by `agent/task/attempt`, until the attempt runs here again. */
  private readonly held = new Map<string, { answer: Answer, until: number }>()
  private pending = 0
  private closing = false
  /** Changes made (each bumps it) and the last one the file has. */
  private changes = 0
  private written = 0
  /** Writes of the file started (coalesced: fewer than the changes when they come in bursts). */
  fileWrites = 0
  /** The write in flight, and the change count it writes. */
  private writing: { upTo: number, done: Promise<void> } | undefined
  readonly stats: Record<KindFamily, KindStats>
  readonly file: string | undefined

  constructor (private readonly target: HandlerTarget, private readonly options: HandlerStoreOptions) {
    const s = (): KindStats => ({ callbacks: 0, callbackErrors: 0, polled: 0, answered: 0, timedOut: 0, refused: 0 })
    this.stats = { request: s(), message: s(), task: s(), vote: s(), bid: s(), protocol: s() }
    this.file = options.dataDir !== undefined ? join(options.dataDir, HANDLERS_FILE) : undefined
    if (options.dataDir !== undefined) this.restore(options.dataDir)
  }

  /** Calls pending now (inboxes and callbacks). */
  get pendingCalls (): number { return this.pending }
  /** Agents with a registration. */
  get size (): number { return this.bindings.size }

  list (): Binding[] { return [...this.bindings.values()].flatMap(m => [...m.values()]) }

  /** The bindings of `agent` (empty when none). */
  of (agent: string): Binding[] { return [...(this.bindings.get(agent)?.values() ?? [])] }

  binding (agent: string, kind: string): Binding | undefined { return this.bindings.get(agent)?.get(kind) }

  // ---------------------------------------------------------------- registrations

  /** Checks a spec and makes the bindings of `kinds` from it. */
  private make (agent: string, kinds: string[], spec: HandlerSpec, via: Via, timeoutMsMax: number): Binding[] {
    if (!this.target.isLocal(agent)) {
      throw new AgoraError('ERR_AGENT_NOT_FOUND', `agent ${agent} is not hosted by this daemon (register it first)`, { path: 'id' })
    }
    const timeoutMs = spec.timeoutMs ?? HANDLER_TIMEOUT_MS_DEFAULT
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > timeoutMsMax) throw new AgoraError('ERR_BAD_REQUEST', `timeoutMs must be an integer in 1..${timeoutMsMax}`, { path: 'timeoutMs' })
    if (kinds.length === 0) throw new AgoraError('ERR_BAD_REQUEST', 'kinds: name at least one kind of call', { path: 'kinds' })
    if (kinds.length > KINDS_PER_AGENT_MAX) throw new LimitExceededError('KINDS_PER_AGENT_MAX', KINDS_PER_AGENT_MAX, kinds.length, 'kinds')
    kinds.forEach((k, i) => {
      if (kindFamily(k) === undefined) throw new AgoraError('ERR_BAD_REQUEST', `kinds.${i}: ${JSON.stringify(k)} is not one of ${BASE_KINDS.join(', ')}, protocol:<name>`, { path: `kinds.${i}` })
    })
    let callback: string | undefined
    if (spec.callback !== undefined) {
      let url: URL
      try { url = new URL(spec.callback) } catch { throw new AgoraError('ERR_BAD_REQUEST', 'callback is not a URL', { path: 'callback' }) }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AgoraError('ERR_BAD_REQUEST', 'callback must be an http(s) URL', { path: 'callback' })
      if (!this.options.allowRemoteCallbacks && !LOOPBACK.test(url.hostname)) {
        throw new AgoraError('ERR_CALLBACK_NOT_ALLOWED', `callback host ${url.hostname} is not loopback (set allowRemoteBidCallbacks in the daemon config to allow it)`, { path: 'callback' })
      }
      callback = url.href
    }
    return [...new Set(kinds)].map(kind => ({ agent, kind, via, mode: callback !== undefined ? 'callback' : 'poll', ...(callback !== undefined ? { callback } : {}), timeoutMs }))
  }

  /**
   * Gives `agent` (hosted here) these bindings: with `replaceAll` they replace every binding it had (the
   * handler route), otherwise only those of the same kinds (the bidder and voter routes).
   */
  async set (agent: string, kinds: string[], spec: HandlerSpec, o: { via?: Via, replaceAll?: boolean, timeoutMsMax?: number } = {}): Promise<Binding[]> {
    const old = this.bindings.get(agent)
    const made = this.setNow(agent, kinds, spec, o)
    await this.persist(agent, made, old)
    return made
  }

  /** {@link set} without the file (restore). */
  private setNow (agent: string, kinds: string[], spec: HandlerSpec, o: { via?: Via, replaceAll?: boolean, timeoutMsMax?: number }): Binding[] {
    const made = this.make(agent, kinds, spec, o.via ?? 'handler', o.timeoutMsMax ?? HANDLER_TIMEOUT_MS_MAX)
    const old = this.bindings.get(agent)
    if (old === undefined && this.bindings.size >= HANDLED_AGENTS_MAX) throw new LimitExceededError('HANDLED_AGENTS_MAX', HANDLED_AGENTS_MAX, this.bindings.size + 1, 'agents with HTTP handlers')
    const next = new Map(o.replaceAll === true ? [] : old ?? [])
    for (const b of made) next.set(b.kind, b)
    if (next.size > KINDS_PER_AGENT_MAX) throw new LimitExceededError('KINDS_PER_AGENT_MAX', KINDS_PER_AGENT_MAX, next.size, 'kinds')
    this.commit(agent, next)
    // Calls of a replaced binding no longer reach the agent as they were asked: dropped.
    const replaced = new Set(o.replaceAll === true ? [...(old?.keys() ?? [])] : made.map(b => b.kind))
    this.drop(agent, c => replaced.has(c.binding.kind) && next.get(c.binding.kind) !== c.binding)
    return made
  }

  /** Removes the bindings of `kinds` of `agent` (all without `kinds`); false when it had none of them. */
  async remove (agent: string, kinds?: string[]): Promise<boolean> {
    const old = this.bindings.get(agent)
    if (old === undefined) return false
    const next = new Map(old)
    for (const k of kinds ?? [...old.keys()]) next.delete(k)
    if (next.size === old.size) return false
    this.commit(agent, next)
    this.drop(agent, c => !next.has(c.binding.kind))
    await this.persist(agent, [], old)
    return true
  }

  /** Applies `next` to the peer (the file follows: {@link persist}). */
  private commit (agent: string, next: Map<string, Binding>): void {
    this.target.apply(agent, next.size === 0 ? undefined : this.handlersOf(next))
    if (next.size === 0) this.bindings.delete(agent)
    else this.bindings.set(agent, next)
  }

  /**
   * Waits for a write of the file that includes the change just made to `agent`. When that write fails
   * and the agent's bindings are still the ones this change made, they are put back as they were (a
   * registration the daemon could not keep is refused, not half made) and the error is thrown.
   */
  private async persist (agent: string, made: Binding[], old: Map<string, Binding> | undefined): Promise<void> {
    const now = this.bindings.get(agent)
    try {
      await this.flush()
    } catch (err) {
      if (this.bindings.get(agent) === now && !this.closing) {
        if (old === undefined || old.size === 0) this.commit(agent, new Map())
        else this.commit(agent, old)
        if (made.length > 0) this.drop(agent, c => made.includes(c.binding))
      }
      throw err
    }
  }

  /** Stops serving every agent; the saved registrations stay for the next start. */
  close (): void {
    this.closing = true
    for (const agent of [...this.bindings.keys()]) {
      this.bindings.delete(agent)
      try { this.target.apply(agent, undefined) } catch {}
      this.drop(agent, () => true)
    }
    for (const ws of this.waiters.values()) for (const w of ws) w()
  }

  // ---------------------------------------------------------------- the file

  private restore (dataDir: string): void {
    const warn = this.options.warn
    const read = (file: string): unknown[] | undefined => {
      let text: string
      try {
        text = readFileSync(file, 'utf8')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warn?.('cannot read the saved agent handlers', { file, error: (err as Error).message })
        return undefined
      }
      try {
        const v = JSON.parse(text) as Record<string, unknown>
        const key = file.endsWith(HANDLERS_FILE) ? 'handlers' : file.endsWith(LEGACY_FILES.bidder) ? 'bidders' : 'voters'
        const list = v[key]
        if (v.version !== FILE_VERSION || !Array.isArray(list)) throw new Error(`not a version ${FILE_VERSION} ${key} file`)
        return list
      } catch (err) {
        warn?.('the saved agent handlers are unreadable; starting without them', { file, error: (err as Error).message })
        return undefined
      }
    }
    let saved = read(join(dataDir, HANDLERS_FILE)) as Array<Partial<Binding>> | undefined
    let migrated = false
    if (saved === undefined) {
      // Earlier versions kept bidders and voters apart.
      const bidders = (read(join(dataDir, LEGACY_FILES.bidder)) ?? []) as Array<Partial<Binding>>
      const voters = (read(join(dataDir, LEGACY_FILES.voter)) ?? []) as Array<Partial<Binding>>
      saved = [...bidders.map(b => ({ ...b, kind: 'bid', via: 'bidder' as const })), ...voters.map(b => ({ ...b, kind: 'vote', via: 'voter' as const }))]
      migrated = saved.length > 0
    }
    let dropped = 0
    for (const b of saved) {
      try {
        if (b === null || typeof b !== 'object' || typeof b.agent !== 'string' || typeof b.kind !== 'string') throw new Error('not a registration')
        const via: Via = b.via === 'bidder' || b.via === 'voter' ? b.via : 'handler'
        this.setNow(b.agent, [b.kind], { ...(typeof b.callback === 'string' ? { callback: b.callback } : {}), ...(typeof b.timeoutMs === 'number' ? { timeoutMs: b.timeoutMs } : {}) }, { via })
      } catch (err) {
        dropped++
        warn?.('a saved agent handler was dropped', { agent: (b as { agent?: unknown })?.agent, kind: (b as { kind?: unknown })?.kind, error: (err as Error).message })
      }
    }
    if (dropped > 0 || migrated) {
      this.restored = this.flush().catch((err: Error) => { warn?.('cannot write the agent handlers', { error: err.message }) })
    }
  }

  /** Resolves once the file has every change made so far (a write started after restore, if any). */
  private restored: Promise<void> = Promise.resolve()

  /**
   * Resolves once the file has every change made before the call; throws {@link HandlersStoreError}
   * when the write that was to include them failed. Writes are coalesced: one in flight at a time, and
   * the next writes the state as it is then (every change made meanwhile, the latest state winning).
   */
  async flush (): Promise<void> {
    await this.restored
    const want = ++this.changes
    for (;;) {
      if (this.written >= want || this.file === undefined || this.closing) return
      const w = this.writing
      if (w !== undefined) {
        try { await w.done } catch (err) { if (w.upTo >= want) throw err }
        continue
      }
      const upTo = this.changes
      const text = JSON.stringify({ version: FILE_VERSION, handlers: this.list() }) + '\n'
      this.fileWrites++
      const mine = { upTo, done: writeAtomically(this.file, text).then(() => { this.written = Math.max(this.written, upTo) }).finally(() => { if (this.writing === mine) this.writing = undefined }) }
      this.writing = mine
      await mine.done
    }
  }

  // ---------------------------------------------------------------- calls

  /** The `peer.agents` handlers of these bindings. */
  private handlersOf (bindings: Map<string, Binding>): AgentHandlers {
    const h: AgentHandlers = {}
    for (const b of bindings.values()) {
      switch (b.kind) {
        case 'request':
          h.onRequest = async (payload, ctx) => await this.call(b, { payload, from: ctx.from }, ctx.signal)
          break
        case 'message':
          h.onMessage = async (message, ctx) => { await this.call(b, { payload: message, from: ctx.from }, ctx.signal) }
          break
        case 'task':
          h.onTask = async (task, ctx) => {
            const { payload, ...attempt } = task
            // Answered already, by a worker that took this attempt before the daemon restarted.
            const held = this.takeHeld(b.agent, task.id, task.attempt)
            if (held !== undefined) return this.replyOf(b, held)
            // The attempt's whole time (peer.tasks gives assignment + timeoutMs + graceMs).
            const left = Math.min(TASK_CALL_MS_MAX, Math.max(1000, task.deadline - Date.now()))
            return await this.call(b, { payload, task: attempt }, ctx.signal, ctx.progress, left)
          }
          break
        case 'vote':
          h.onVote = async (req) => await this.call(b, { payload: req }) as string | null
          break
        case 'bid':
          h.onBidRequest = async (req) => await this.call(b, { payload: req }) as never
          break
        default: {
          const name = b.kind.slice('protocol:'.length)
          h.protocols ??= {}
          h.protocols[name] = async (payload, ctx) => await this.call(b, { payload, from: ctx.from, protocol: name }, ctx.signal)
        }
      }
    }
    return h
  }

  private family (b: Binding): KindStats { return this.stats[kindFamily(b.kind) ?? 'protocol'] }

  /** One call to the agent of `b`: its callback or its inbox. */
  private async call (b: Binding, parts: Pick<CallView, 'payload' | 'from' | 'protocol' | 'task'>, signal?: AbortSignal, progress?: TaskContext['progress'], timeoutMs = b.timeoutMs): Promise<unknown> {
    const stats = this.family(b)
    if (this.closing) throw new AgoraError('ERR_NO_HANDLER', `the daemon is stopping; ${b.agent} takes no more calls`)
    if (this.pending >= AGENT_CALLS_PENDING_MAX) {
      stats.refused++
      throw new LimitExceededError('AGENT_CALLS_PENDING_MAX', AGENT_CALLS_PENDING_MAX, this.pending + 1, 'calls pending for HTTP agents')
    }
    const view: CallView = {
      callId: parts.task !== undefined ? taskCallId(parts.task.id, parts.task.attempt) : randomBytes(8).toString('hex'),
      kind: b.kind,
      agent: b.agent,
      payload: parts.payload ?? null,
      ...(parts.from !== undefined ? { from: parts.from } : {}),
      ...(parts.protocol !== undefined ? { protocol: parts.protocol } : {}),
      ...(parts.task !== undefined ? { task: parts.task } : {}),
      expiresAt: Date.now() + timeoutMs
    }
    this.pending++
    if (progress !== undefined && b.mode === 'callback') this.reporting.set(view.callId, { agent: b.agent, progress })
    try {
      const answer = b.mode === 'callback' ? await this.callback(b, view, stats, timeoutMs, signal) : await this.enqueue(b, view, stats, timeoutMs, signal, progress)
      return this.replyOf(b, answer)
    } catch (err) {
      // The request interface's callers see its named errors (a full inbox is ERR_OVERLOADED, a failed
      // callback ERR_HANDLER); bids and votes keep the codes their handlers had.
      if (b.kind === 'bid' || b.kind === 'vote' || err instanceof AgentError || !(err instanceof AgoraError)) throw err
      throw agentErrorOf(err.code, err.message, err.details as Record<string, unknown> | undefined)
    } finally {
      this.pending--
      this.reporting.delete(view.callId)
    }
  }

  /** The value an answer gives the handler (a throw for an error answer, or a reply the kind cannot take). */
  private replyOf (b: Binding, a: Answer): unknown {
    const what = `the ${b.kind} answer of ${b.agent}`
    if (a.error !== undefined && a.error !== null) {
      const e = a.error as { message?: unknown, retry?: unknown }
      const message = typeof a.error === 'string' ? a.error : typeof e.message === 'string' ? e.message : JSON.stringify(a.error)
      throw new AgentAnsweredError(message.slice(0, 1024), e.retry === false ? false : undefined)
    }
    const reply = a.reply === undefined ? null : a.reply
    if (b.kind === 'vote' && !isChoice(reply)) throw new CallbackFailedError(`${what}: a vote's reply is an option name or null`)
    if (b.kind === 'bid' && reply !== null && (typeof reply !== 'object' || Array.isArray(reply))) throw new CallbackFailedError(`${what}: a bid's reply is an object or null`)
    return reply
  }

  private async callback (b: Binding, view: CallView, stats: KindStats, timeoutMs: number, signal: AbortSignal | undefined): Promise<Answer> {
    const what = `${b.kind} callback of ${b.agent}`
    stats.callbacks++
    const body = b.via === 'handler' ? view : { requestId: view.callId, ...(view.payload as object) }
    try {
      const res = await fetch(b.callback!, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: signal === undefined ? AbortSignal.timeout(timeoutMs) : AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
        redirect: 'error'
      })
      const text = await readLimited(res, CALLBACK_RESPONSE_BYTES_MAX, `${what} response`)
      if (!res.ok) throw new CallbackFailedError(`${what} answered ${res.status}`)
      const v = parseJsonObject(text, what)
      if (b.via === 'bidder') {
        if (!('bid' in v)) throw new CallbackFailedError(`${what}: the response must be {"bid": {...}} or {"bid": null}`)
        return { reply: v.bid }
      }
      if (b.via === 'voter') {
        if (!('choice' in v) || !isChoice(v.choice)) throw new CallbackFailedError(`${what}: the response must be {"choice": "<option>"} or {"choice": null}`)
        return { reply: v.choice }
      }
      if (!('reply' in v) && !('error' in v) && b.kind !== 'message') throw new CallbackFailedError(`${what}: the response must be {"reply": ...} or {"error": {"message": ...}}`)
      return { reply: v.reply, error: v.error }
    } catch (err) {
      stats.callbackErrors++
      if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError') throw new TimeoutError(what, timeoutMs)
      if (err instanceof AgoraError) throw err
      throw new CallbackFailedError(`${what}: ${(err as Error).message}`)
    }
  }

  private async enqueue (b: Binding, view: CallView, stats: KindStats, timeoutMs: number, signal: AbortSignal | undefined, progress: TaskContext['progress'] | undefined): Promise<Answer> {
    const q = this.inbox.get(b.agent) ?? []
    const inboxMax = this.options.inboxMax ?? AGENT_INBOX_MAX
    // Bids and votes keep the per-kind bound of their routes of earlier versions.
    const kindMax = b.kind === 'bid' || b.kind === 'vote' ? LEGACY_QUEUE_MAX : inboxMax
    const ofKind = b.kind === 'bid' || b.kind === 'vote' ? q.filter(c => c.binding.kind === b.kind).length : q.length
    if (q.length >= inboxMax || ofKind >= kindMax) {
      stats.refused++
      const full = q.length >= inboxMax
      throw new LimitExceededError(full ? 'AGENT_INBOX_MAX' : `${b.kind === 'bid' ? 'BID' : 'VOTE'}_QUEUE_PER_AGENT_MAX`, full ? inboxMax : kindMax, (full ? q.length : ofKind) + 1, `calls waiting for ${b.agent}`)
    }
    return await new Promise<Answer>((resolve, reject) => {
      let onAbort: (() => void) | undefined
      const done = (): void => {
        clearTimeout(timer)
        if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
        this.forget(c)
      }
      const timer = setTimeout(() => {
        stats.timedOut++
        done()
        reject(new TimeoutError(`${b.kind} answer of ${b.agent}`, timeoutMs))
      }, timeoutMs)
      const c: Call = {
        id: view.callId,
        binding: b,
        view,
        settle: (answer) => { done(); resolve(answer) },
        fail: (err) => { done(); reject(err) },
        ...(progress !== undefined ? { progress } : {})
      }
      if (signal !== undefined) {
        // The caller gave up (its timeout, the peer stopping): the call leaves the inbox.
        onAbort = () => { c.fail(new TimeoutError(`${b.kind} answer of ${b.agent} (the caller stopped waiting)`, timeoutMs)) }
        if (signal.aborted) { onAbort(); return }
        signal.addEventListener('abort', onAbort, { once: true })
      }
      q.push(c)
      this.inbox.set(b.agent, q)
      this.byId.set(c.id, c)
      for (const w of this.waiters.get(b.agent) ?? []) w()
    })
  }

  private forget (c: Call): void {
    this.byId.delete(c.id)
    const q = this.inbox.get(c.binding.agent)
    if (q === undefined) return
    const i = q.indexOf(c)
    if (i >= 0) q.splice(i, 1)
    if (q.length === 0) this.inbox.delete(c.binding.agent)
  }

  /** Ends the waiting calls of `agent` that `which` picks: bids and votes are declined, the others fail `ERR_NO_HANDLER`. */
  private drop (agent: string, which: (c: Call) => boolean): void {
    for (const c of [...(this.inbox.get(agent) ?? [])]) {
      if (!which(c)) continue
      if (c.binding.kind === 'bid' || c.binding.kind === 'vote') c.settle({ reply: null })
      else c.fail(new AgoraError('ERR_NO_HANDLER', `the ${c.binding.kind} handler of ${agent} was removed`))
    }
  }

  /**
   * Calls waiting for a long-polling agent; waits up to `waitMs` for one when there is none. `kinds`
   * keeps those kinds (the bidder and voter routes); `fresh` hands out only calls not handed out within
   * {@link INBOX_REDELIVER_MS} (the inbox route). Throws `missing()` when the agent has no poll binding of
   * those kinds.
   */
  async poll (agent: string, o: { waitMs: number, signal: AbortSignal, kinds?: string[], fresh?: boolean, missing: () => AgoraError }): Promise<CallView[]> {
    const bs = this.of(agent).filter(b => b.mode === 'poll' && (o.kinds === undefined || o.kinds.includes(b.kind)))
    if (bs.length === 0) throw o.missing()
    const pick = (): Call[] => {
      const now = Date.now()
      return (this.inbox.get(agent) ?? []).filter(c =>
        (o.kinds === undefined || o.kinds.includes(c.binding.kind)) &&
        (o.fresh !== true || c.deliveredAt === undefined || now - c.deliveredAt >= INBOX_REDELIVER_MS))
    }
    const hand = (calls: Call[]): CallView[] => {
      const now = Date.now()
      for (const c of calls) { c.deliveredAt = now; this.family(c.binding).polled++ }
      return calls.map(c => c.view)
    }
    const first = pick()
    if (first.length > 0 || o.waitMs === 0) return hand(first)
    if (this.pollers >= INBOX_POLLERS_MAX) throw new TooManyPollsError()
    const mine = this.agentPollers.get(agent) ?? 0
    if (mine >= INBOX_POLLERS_PER_AGENT_MAX) throw new TooManyPollsError(agent)
    this.pollers++
    this.agentPollers.set(agent, mine + 1)
    const set = this.waiters.get(agent) ?? new Set<() => void>()
    this.waiters.set(agent, set)
    try {
      await new Promise<void>((resolve) => {
        let timer: ReturnType<typeof setTimeout> | undefined
        const done = (): void => {
          // Woken by a call of another kind: keep waiting.
          if (!o.signal.aborted && !this.closing && timer !== undefined && pick().length === 0 && Date.now() < deadline) return
          clearTimeout(timer)
          o.signal.removeEventListener('abort', done)
          set.delete(done)
          resolve()
        }
        const deadline = Date.now() + o.waitMs
        timer = setTimeout(() => { timer = undefined; done() }, o.waitMs)
        o.signal.addEventListener('abort', done)
        set.add(done)
      })
    } finally {
      this.pollers--
      const left = (this.agentPollers.get(agent) ?? 1) - 1
      if (left <= 0) this.agentPollers.delete(agent)
      else this.agentPollers.set(agent, left)
      if (set.size === 0 && this.waiters.get(agent) === set) this.waiters.delete(agent)
    }
    return hand(pick())
  }

  /** The waiting call `callId` (of `agent` when given); `ERR_UNKNOWN_REQUEST` (404) when there is none. */
  private pendingCall (callId: string, agent?: string, noun = 'call', path = 'callId'): Call {
    const c = this.byId.get(callId)
    if (c === undefined || (agent !== undefined && c.binding.agent !== agent)) throw new AgoraError('ERR_UNKNOWN_REQUEST', `no pending ${noun} ${callId}${agent !== undefined ? ` for ${agent}` : ''} (answered, expired or never sent)`, { path })
    return c
  }

  /**
   * Answers a waiting call; `before` sees it first. An answer the kind cannot take (a vote's reply that
   * is not an option) is refused 400 and leaves the call waiting.
   */
  answer (callId: string, answer: Answer, o: { agent?: string, kinds?: string[], noun?: string, path?: string, before?: (view: CallView) => void } = {}): CallView {
    const c = this.pendingCall(callId, o.agent, o.noun, o.path)
    if (o.kinds !== undefined && !o.kinds.includes(c.binding.kind)) throw new AgoraError('ERR_UNKNOWN_REQUEST', `no pending ${o.noun ?? 'call'} ${callId}`, { path: o.path ?? 'callId' })
    try {
      this.replyOf(c.binding, answer)
    } catch (err) {
      if (err instanceof CallbackFailedError) throw new AgoraError('ERR_BAD_REQUEST', err.message, { path: 'reply' })
    }
    o.before?.(c.view)
    this.family(c.binding).answered++
    c.settle(answer)
    return c.view
  }

  /**
   * Answers a call like {@link answer}; a task call this daemon no longer knows (its id is of a run before
   * a restart, and names its attempt) is still answered when its attempt is current and assigned to
   * `agent` here: the attempt's call waiting now takes the answer, or the attempt is run again here and
   * its call takes the answer at once (peer.tasks then records the outcome as for any call). Otherwise
   * `ERR_UNKNOWN_REQUEST` (404), or `ERR_STALE_ATTEMPT` (409) when the attempt is no longer current here.
   */
  async answerAny (callId: string, answer: Answer, agent: string): Promise<{ callId: string, kind: string, recovered?: true }> {
    try {
      return this.answer(callId, answer, { agent })
    } catch (err) {
      const m = TASK_CALL_ID.exec(callId)
      const b = this.binding(agent, 'task')
      if ((err as AgoraError).code !== 'ERR_UNKNOWN_REQUEST' || m === null || b === undefined || this.target.rerunTask === undefined) throw err
      const task = parseInt(m[1]!, 16)
      const attempt = parseInt(m[2]!, 16)
      if (!Number.isSafeInteger(task) || task < 1 || attempt < 1) throw err
      return await this.answerEarlierRun(b, callId, task, attempt, answer)
    }
  }

  private async answerEarlierRun (b: Binding, callId: string, task: number, attempt: number, answer: Answer): Promise<{ callId: string, kind: string, recovered: true }> {
    try {
      this.replyOf(b, answer)
    } catch (err) {
      if (err instanceof CallbackFailedError) throw new AgoraError('ERR_BAD_REQUEST', err.message, { path: 'reply' })
    }
    const live = (): Call | undefined => [...this.inbox.get(b.agent) ?? []].find(c => c.binding.kind === 'task' && c.view.task?.id === task && c.view.task.attempt === attempt)
    const settle = (c: Call): { callId: string, kind: string, recovered: true } => { this.family(c.binding).answered++; c.settle(answer); return { callId: c.view.callId, kind: c.binding.kind, recovered: true } }
    const now = live()
    if (now !== undefined) return settle(now)
    const key = `${b.agent}/${task}/${attempt}`
    const t = Date.now()
    for (const [k, h] of this.held) if (h.until <= t) this.held.delete(k)
    if (this.held.size >= HELD_TASK_ANSWERS_MAX && !this.held.has(key)) {
      throw new LimitExceededError('HELD_TASK_ANSWERS_MAX', HELD_TASK_ANSWERS_MAX, this.held.size + 1, 'task answers of an earlier run waiting for their attempt')
    }
    this.held.set(key, { answer, until: t + HELD_TASK_ANSWER_MS })
    let outcome: 'taken' | 'running' | 'stale'
    try {
      outcome = await this.target.rerunTask!(b.agent, task, attempt)
    } catch (err) {
      this.held.delete(key)
      throw err
    }
    if (outcome === 'stale') {
      this.held.delete(key)
      throw new AgoraError('ERR_STALE_ATTEMPT', `attempt ${attempt} of task ${task} is not current for ${b.agent} on this daemon (finished, reassigned or cancelled)`, { path: 'callId' })
    }
    if (this.held.has(key)) {
      // Running here already: its call takes the answer (now, or when it reaches the inbox).
      const c = live()
      if (c !== undefined) { this.held.delete(key); return settle(c) }
    } else {
      this.family(b).answered++
    }
    return { callId, kind: b.kind, recovered: true }
  }

  /** The answer held for this attempt of `agent`, taken (once). */
  private takeHeld (agent: string, task: number, attempt: number): Answer | undefined {
    const key = `${agent}/${task}/${attempt}`
    const h = this.held.get(key)
    if (h === undefined) return undefined
    this.held.delete(key)
    return h.until > Date.now() ? h.answer : undefined
  }

  /** Reports a waiting task call's progress (0..1, optional note). */
  async progress (callId: string, agent: string, value: number, note?: string): Promise<void> {
    const r = this.reporting.get(callId)
    if (r !== undefined && r.agent === agent) { await r.progress(value, note); return }
    const c = this.pendingCall(callId, agent)
    if (c.progress === undefined) throw new AgoraError('ERR_BAD_REQUEST', `call ${callId} is a ${c.binding.kind} call: only task calls report progress`, { path: 'callId' })
    await c.progress(value, note)
  }
}

/**
 * Writes `text` to `file` atomically and durably: a temporary file, fsynced, renamed over `file`, then the
 * directory fsynced (so the rename itself survives a crash). Failures are {@link HandlersStoreError}.
 */
export async function writeAtomically (file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`
  try {
    const fh = await open(tmp, 'w', 0o600)
    try {
      await fh.writeFile(text)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, file)
    const dir = await open(dirname(file), 'r')
    try { await dir.sync() } finally { await dir.close() }
  } catch (err) {
    throw new HandlersStoreError(file, err)
  }
}

/** Bid and vote requests waiting per long-polling agent (the bound of the bidder and voter routes). */
export const LEGACY_QUEUE_MAX = 64

async function readLimited (res: Response, max: number, what: string): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 0)
  if (declared > max) throw new LimitExceededError('CALLBACK_RESPONSE_BYTES_MAX', max, declared, what)
  if (res.body === null) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length
    if (size > max) throw new LimitExceededError('CALLBACK_RESPONSE_BYTES_MAX', max, size, what)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** A callback's response: a JSON object of well-formed input, else {@link CallbackFailedError}. */
function parseJsonObject (text: string, what: string): Record<string, unknown> {
  let v: unknown
  try { v = JSON.parse(text) } catch { throw new CallbackFailedError(`${what}: the response is not JSON`) }
  const p = jsonInputProblem(v)
  if (p !== undefined) throw new CallbackFailedError(`${what}: ${p.path}: ${describeJsonProblem(p)}`)
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new CallbackFailedError(`${what}: the response must be a JSON object`)
  return v as Record<string, unknown>
}
