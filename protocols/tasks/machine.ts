/**
 * The task state machine (durable tasks, issue 13): tasks submitted, assigned to agents attempt by attempt,
 * acked under a coordination lease, completed exactly once, failed, timed out, reassigned, cancelled,
 * applied from the Raft log on every replica alike. Pure and deterministic: its only time is log time (the
 * largest proposal stamp applied, moved by {@link TaskMachine.advance} on every entry of the mesh
 * application), and each attempt's deadline is acted on when an entry moves log time past it. README.md
 * beside this file states the semantics and what they guarantee.
 */
import { DecodeError } from '../../src/base/errors.js'
import { TypedEmitter } from '../../src/base/events.js'
import { MinHeap } from '../../src/base/heap.js'
import { Refused, isRefusal, refuse as fail, refusing } from '../../src/base/refusal.js'
import { isReservedName, isWellFormed, jsonInputProblem } from '../../src/base/input.js'
import { TASK_BATCH_OPS_MAX, TASK_DEFAULTS, TASK_LIMITS, TASK_TAKEOVER_MS, type Allocation, type AttemptEnd, type AttemptView, type TaskCommand, type TaskEvent, type TaskEvents, type TaskFailReason, type TaskFailure, type TaskHooks, type TaskState, type TaskTarget, type TaskView } from './types.js'

const dec = new TextDecoder()
const L = TASK_LIMITS

/** Task states, in the order `tasks:stats` lists them. */
export const TASK_STATES: readonly TaskState[] = Object.freeze(['submitted', 'assigned', 'completed', 'failed', 'cancelled'])
const ALLOCATIONS: readonly Allocation[] = ['least-loaded', 'round-robin', 'auction']

/** A task record: a {@link TaskView} plus what the machine needs and never shows. */
interface Task extends Omit<TaskView, 'history' | 'agent'> {
  history: Attempt[]
  /** Not state (derived, never written): UTF-8 bytes of the payload's and the result's JSON string. */
  payloadBytes?: number
  resultBytes?: number
  /** Not state: the bytes this task is charged ({@link chargeOf}), and to which pool (live or finished). */
  charge?: number
  chargedLive?: boolean
}
/** An attempt; `ackIndex` names the ack entry (evidence). */
type Attempt = AttemptView

/**
 * A pending deadline: task id, attempt number, log time; `wait`: the deadline of a task waiting in
 * `submitted` after `attempt` attempts (its queue deadline), else the attempt's. Ordered by (at, task):
 * a task has at most one valid deadline at a time.
 */
interface Due { at: number, task: number, attempt: number, wait?: true }
function before (a: Due, b: Due): boolean {
  if (a.at !== b.at) return a.at < b.at
  return a.task < b.task
}


function isTerminal (s: TaskState): boolean { return s === 'completed' || s === 'failed' || s === 'cancelled' }

function isName (s: unknown, max: number): s is string {
  return typeof s === 'string' && s.length > 0 && s.length <= max && isWellFormed(s) && !isReservedName(s)
}
function isInt (v: unknown, min: number, max: number): v is number {
  return Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max
}
function isId (v: unknown): v is number { return Number.isSafeInteger(v) && (v as number) >= 1 }

/** UTF-8 bytes of `s` as a JSON string (quotes and escapes counted): what it takes in a snapshot. */
function jsonBytes (s: string): number { return Buffer.byteLength(JSON.stringify(s)) }

/** The longest prefix of `s` (whole code points) whose JSON string takes at most `max` bytes. */
function cutJson (s: string, max: number): string {
  if (jsonBytes(s) <= max) return s
  let n = 2
  let out = ''
  for (const ch of s) {
    const b = jsonBytes(ch) - 2
    if (n + b > max) break
    n += b
    out += ch
  }
  return out
}

/** JSON text of at most `max` UTF-8 bytes, well-formed. */
function jsonText (v: unknown, what: string, max: number): string {
  if (typeof v !== 'string' || !isWellFormed(v) || Buffer.byteLength(v) > max) fail('ERR_INVALID_COMMAND', `${what} must be JSON text of at most ${max} bytes (well-formed Unicode)`)
  try { JSON.parse(v) } catch { fail('ERR_INVALID_COMMAND', `${what} is not JSON`) }
  return v
}

function text (v: unknown, what: string, max: number): string {
  if (typeof v !== 'string' || v.length > max || !isWellFormed(v)) fail('ERR_INVALID_COMMAND', `${what} must be a string of at most ${max} characters (well-formed Unicode)`)
  return v
}

function parseTarget (raw: unknown): TaskTarget {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('ERR_INVALID_COMMAND', 'target must be { agent } or { capability } or { query }')
  const t = raw as Record<string, unknown>
  const keys = Object.keys(t)
  if (keys.length !== 1) fail('ERR_INVALID_COMMAND', 'target names exactly one of agent, capability, query')
  if (keys[0] === 'agent') {
    if (!isName(t.agent, L.idCharsMax)) fail('ERR_INVALID_COMMAND', `target.agent must be an agent id of 1..${L.idCharsMax} characters`)
    return { agent: t.agent }
  }
  if (keys[0] === 'capability') {
    if (!isName(t.capability, L.idCharsMax)) fail('ERR_INVALID_COMMAND', `target.capability must be a name of 1..${L.idCharsMax} characters`)
    return { capability: t.capability }
  }
  if (keys[0] === 'query') {
    const q = t.query
    if (q === null || typeof q !== 'object' || Array.isArray(q)) fail('ERR_INVALID_COMMAND', 'target.query must be an object (registry query criteria)')
    const bad = jsonInputProblem(q)
    if (bad?.reason === 'proto-key') fail('ERR_RESERVED_NAME', `target.query.${bad.path}: "__proto__" is not allowed as a key`)
    if (bad !== undefined) fail('ERR_INVALID_COMMAND', `target.query.${bad.path}: strings must be well-formed Unicode`)
    const json = JSON.stringify(q)
    if (Buffer.byteLength(json) > L.queryBytesMax) fail('ERR_INVALID_COMMAND', `target.query must be at most ${L.queryBytesMax} bytes of JSON`)
    return { query: JSON.parse(json) as Record<string, unknown> }
  }
  return fail('ERR_INVALID_COMMAND', 'target names exactly one of agent, capability, query')
}

/** A submit's numeric fields and their ranges. */
const SUBMIT_NUMBERS: ReadonlyArray<['retries' | 'timeoutMs' | 'graceMs' | 'ackMs' | 'queueMs', number, number]> = [
  ['retries', 0, L.retriesMax],
  ['timeoutMs', L.timeoutMsMin, L.timeoutMsMax],
  ['graceMs', 0, L.graceMsMax],
  ['ackMs', L.ackMsMin, L.ackMsMax],
  ['queueMs', L.queueMsMin, L.queueMsMax]
]

function parseSubmit (c: Record<string, unknown>): TaskCommand {
  const out: Extract<TaskCommand, { t: 'task.submit' }> = { t: 'task.submit', target: parseTarget(c.target), payload: jsonText(c.payload, 'payload', L.payloadBytesMax) }
  if (c.allocation !== undefined) {
    if (!ALLOCATIONS.includes(c.allocation as Allocation)) fail('ERR_INVALID_COMMAND', `allocation must be one of ${ALLOCATIONS.join(', ')}`)
    out.allocation = c.allocation as Allocation
  }
  for (const [k, min, max] of SUBMIT_NUMBERS) {
    const v = c[k]
    if (v === undefined) continue
    if (!isInt(v, min, max)) fail('ERR_INVALID_COMMAND', `${k} must be an integer in ${min}..${max}`)
    out[k] = v
  }
  if (c.key !== undefined) {
    if (!isName(c.key, L.keyCharsMax)) fail('ERR_INVALID_COMMAND', `key must be 1..${L.keyCharsMax} characters (well-formed, not a reserved name)`)
    out.key = c.key
  }
  if ((c.account === undefined) !== (c.reward === undefined)) fail('ERR_INVALID_COMMAND', 'account and reward go together')
  if (c.account !== undefined) {
    if (!isName(c.account, L.idCharsMax)) fail('ERR_INVALID_COMMAND', `account must be an account id of 1..${L.idCharsMax} characters`)
    if (!isInt(c.reward, 1, Number.MAX_SAFE_INTEGER)) fail('ERR_INVALID_COMMAND', 'reward must be a positive safe integer')
    out.account = c.account
    out.reward = c.reward
  }
  return out
}

const FIELDS: Record<TaskCommand['t'], readonly string[]> = {
  'task.submit': ['t', 'target', 'payload', 'allocation', 'retries', 'timeoutMs', 'graceMs', 'ackMs', 'queueMs', 'key', 'account', 'reward'],
  'task.assign': ['t', 'task', 'attempt', 'agent', 'host'],
  'task.ack': ['t', 'task', 'attempt', 'lease'],
  'task.progress': ['t', 'task', 'attempt', 'progress', 'note'],
  'task.complete': ['t', 'task', 'attempt', 'result'],
  'task.fail': ['t', 'task', 'attempt', 'error', 'retry'],
  'task.cancel': ['t', 'task'],
  'task.batch': ['t', 'ops']
}

function parseCommand (raw: unknown, nested: boolean): TaskCommand {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('ERR_INVALID_COMMAND', 'a task command is a JSON object')
  const c = raw as Record<string, unknown>
  const t = c.t as TaskCommand['t']
  if (typeof t !== 'string' || !Object.hasOwn(FIELDS, t)) fail('ERR_INVALID_COMMAND', 'unknown task command')
  for (const k of Object.keys(c)) if (!FIELDS[t].includes(k)) fail('ERR_INVALID_COMMAND', `${t}: unexpected field "${k}"`)
  if (t === 'task.submit') return parseSubmit(c)
  if (t === 'task.batch') {
    if (nested) fail('ERR_INVALID_COMMAND', 'a batch holds no batch')
    if (!Array.isArray(c.ops) || c.ops.length < 1 || c.ops.length > TASK_BATCH_OPS_MAX) fail('ERR_INVALID_COMMAND', `ops must list 1..${TASK_BATCH_OPS_MAX} task commands`)
    const ops: TaskCommand[] = []
    for (const [i, op] of (c.ops as unknown[]).entries()) {
      try { ops.push(parseCommand(op, true)) } catch (err) {
        if (err instanceof Refused) fail(err.code, `ops[${i}]: ${err.message}`)
        throw err
      }
    }
    return { t, ops }
  }
  if (!isId(c.task)) fail('ERR_INVALID_COMMAND', 'task must be a task id')
  const task = c.task
  if (t === 'task.cancel') return { t, task }
  if (!isId(c.attempt)) fail('ERR_INVALID_COMMAND', 'attempt must be an attempt number (1, 2, ...)')
  const attempt = c.attempt
  switch (t) {
    case 'task.assign':
      if (!isName(c.agent, L.idCharsMax)) fail('ERR_INVALID_COMMAND', `agent must be an agent id of 1..${L.idCharsMax} characters`)
      if (!isName(c.host, 256)) fail('ERR_INVALID_COMMAND', 'host must be a peer id')
      return { t, task, attempt, agent: c.agent, host: c.host }
    case 'task.ack':
      if (!isId(c.lease)) fail('ERR_INVALID_COMMAND', 'lease must be a lease id')
      return { t, task, attempt, lease: c.lease }
    case 'task.progress': {
      if (typeof c.progress !== 'number' || !(c.progress >= 0 && c.progress <= 1)) fail('ERR_INVALID_COMMAND', 'progress must be a number in 0..1')
      const out: TaskCommand = { t, task, attempt, progress: c.progress }
      if (c.note !== undefined) out.note = text(c.note, 'note', L.noteCharsMax)
      return out
    }
    case 'task.complete':
      return { t, task, attempt, result: jsonText(c.result, 'result', L.resultBytesMax) }
    default: {
      const out: TaskCommand = { t: 'task.fail', task, attempt, error: text(c.error, 'error', L.errorCharsMax) }
      if (c.retry !== undefined) {
        if (typeof c.retry !== 'boolean') fail('ERR_INVALID_COMMAND', 'retry must be a boolean')
        out.retry = c.retry
      }
      return out
    }
  }
}

/** Checks a command's shape on its own (no state): what apply refuses first, and what a member checks before proposing. */
export function admitTaskCommand (raw: unknown): { code: string, message: string } | undefined {
  const r = refusing(() => parseCommand(raw, false))
  return isRefusal(r) ? { code: r.code, message: r.message } : undefined
}

/** Decodes `u8 TASK_TAG · JSON` (the tag already checked by the caller) into a checked command or a failure. */
export function decodeTaskCommand (command: Uint8Array): TaskCommand | TaskFailure {
  let raw: unknown
  try { raw = JSON.parse(dec.decode(command.subarray(1))) } catch { return { ok: false, code: 'ERR_INVALID_COMMAND', message: 'a task command is JSON' } }
  return refusing(() => parseCommand(raw, false))
}

export class TaskMachine extends TypedEmitter<TaskEvents> {
  /** Log time (ms): the largest proposal stamp applied. */
  now = 0
  /** Every task remembered, by id; ids ascend in insertion order (they only grow). */
  private tasks = new Map<number, Task>()
  /** Task ids per state (`tasks:<state>` reads, `tasks:stats`, `pending()`). */
  private byState = new Map<TaskState, Set<number>>(TASK_STATES.map(s => [s, new Set<number>()]))
  /** Finished task ids in the order they finished (the oldest are forgotten first). */
  private finished = new Map<number, true>()
  /** Idempotency keys, per origin peer: key → task id (of every remembered task with a key). */
  private keys = new Map<string, Map<string, number>>()
  /** Live (submitted or assigned) tasks per submitting peer. */
  private liveByOrigin = new Map<string, number>()
  /** Bytes charged ({@link chargeOf}) of live tasks, per submitting peer and in all; of finished tasks remembered. */
  private liveBytesByOrigin = new Map<string, number>()
  private liveBytes = 0
  private finishedBytes = 0
  /** Assigned tasks per agent (the agent of their live attempt). */
  private byAgent = new Map<string, Set<number>>()
  /** Tasks whose live attempt is acked under a lease, per lease. */
  private byLease = new Map<number, Set<number>>()
  /** The last task id given (ids are the submit entry's index, or one more than the last when a batch submits several). */
  private lastId = 0
  private heap = new MinHeap<Due>(before)
  /** The index being applied (events carry it). */
  private index = 0
  readonly stats = { applied: 0, refused: 0, submitted: 0, completed: 0, reassigned: 0, failed: 0, forgotten: 0 }

  constructor (private readonly hooks: TaskHooks = {}) {
    super()
  }

  // ---------------------------------------------------------------- apply

  /**
   * Moves log time to `at` (when later) and ends every attempt whose deadline it passed (ack window or
   * timeout), in (deadline, task id) order. The mesh application calls it for every entry it applies,
   * before the entry's own command.
   */
  advance (at: number, index: number): void {
    this.clock(at, index)
    for (;;) {
      const d = this.heap.peek()
      if (d === undefined || d.at > this.now) return
      this.heap.pop()
      const t = this.tasks.get(d.task)
      if (d.wait === true) {
        if (t !== undefined && this.waiting(t, d)) this.unassigned(t)
        continue
      }
      const a = t === undefined ? undefined : this.live(t)
      if (t === undefined || a === undefined || a.attempt !== d.attempt || a.deadline !== d.at) continue
      // The ack window ends an unacked attempt before its whole time is up; otherwise the attempt timed out.
      const end = a.ackedAt === undefined && a.deadline < this.fullDeadline(t, a) ? 'ack-timeout' : 'timeout'
      this.endAttempt(t, a, end, true)
    }
  }

  /**
   * Moves log time to `at` (when later) without acting on deadlines: the mesh application calls it before
   * the coordination machine's advance, so that the attempts a lease's end reassigns ({@link leaseEnded})
   * see the entry's log time; {@link advance} then acts on the task deadlines.
   */
  clock (at: number, index: number): void {
    this.index = index
    if (at > this.now) this.now = at
  }

  /** Applies a decoded command from `origin` (the signed proposer) at `index`. Never throws on bad input. */
  apply (cmd: TaskCommand, index: number, origin: string): unknown {
    this.index = index
    if (cmd.t === 'task.batch') {
      this.stats.applied++
      return { ok: true, type: 'task.batch', results: cmd.ops.map(op => this.applyOne(op, origin)) }
    }
    return this.applyOne(cmd, origin)
  }

  private applyOne (cmd: TaskCommand, origin: string): unknown {
    const r = refusing(() => this.dispatch(cmd, origin))
    if (isRefusal(r)) this.stats.refused++
    else this.stats.applied++
    return r
  }

  private dispatch (c: TaskCommand, origin: string): unknown {
    switch (c.t) {
      case 'task.submit': return this.submit(c, origin)
      case 'task.assign': return this.assign(c, origin)
      case 'task.ack': return this.ack(c, origin)
      case 'task.progress': return this.progress(c, origin)
      case 'task.complete': return this.complete(c, origin)
      case 'task.fail': return this.failAttempt(c, origin)
      case 'task.cancel': return this.cancel(c.task, origin)
      case 'task.batch': return fail('ERR_INVALID_COMMAND', 'a batch holds no batch')
    }
  }

  private emitEvent (e: TaskEvent): void {
    if (this.listenerCount('task:event') > 0) this.emit('task:event', e)
  }

  /**
   * The lease `lease` ended (expired or revoked; the coordination machine's hook): every attempt acked
   * under it ends `host-lost` (reassigned while retries remain), in task id order.
   */
  leaseEnded (lease: number, index: number): void {
    const ids = this.byLease.get(lease)
    if (ids === undefined) return
    this.index = index
    for (const id of [...ids].sort((a, b) => a - b)) {
      const t = this.tasks.get(id)
      const a = t === undefined ? undefined : this.live(t)
      if (t !== undefined && a !== undefined && a.lease === lease) this.endAttempt(t, a, 'host-lost', true)
    }
    this.byLease.delete(lease)
  }

  // ---------------------------------------------------------------- commands

  private submit (c: Extract<TaskCommand, { t: 'task.submit' }>, origin: string): unknown {
    const mine = this.keys.get(origin)
    if (c.key !== undefined) {
      const first = mine?.get(c.key)
      if (first !== undefined) return { ok: true, type: 'task.submit', task: first, created: false }
    }
    const live = this.byState.get('submitted')!.size + this.byState.get('assigned')!.size
    if (live >= L.liveTasksMax) fail('ERR_LIMIT_EXCEEDED', `the group has ${L.liveTasksMax} live tasks`)
    const own = this.liveByOrigin.get(origin) ?? 0
    if (own >= L.liveTasksPerOriginMax) fail('ERR_LIMIT_EXCEEDED', `peer ${origin} has ${L.liveTasksPerOriginMax} live tasks`)
    const id = Math.max(this.index, this.lastId + 1)
    const t: Task = {
      id,
      state: 'submitted',
      origin,
      target: c.target,
      allocation: c.allocation ?? 'least-loaded',
      payload: c.payload,
      retries: c.retries ?? TASK_DEFAULTS.retries,
      timeoutMs: c.timeoutMs ?? TASK_DEFAULTS.timeoutMs,
      graceMs: c.graceMs ?? TASK_DEFAULTS.graceMs,
      ackMs: c.ackMs ?? TASK_DEFAULTS.ackMs,
      queueMs: c.queueMs ?? TASK_DEFAULTS.queueMs,
      attempts: 0,
      history: [],
      submittedIndex: this.index,
      submittedAt: this.now,
      assignableBy: this.now + TASK_TAKEOVER_MS,
      rev: 1
    }
    if (c.key !== undefined) t.key = c.key
    if (c.account !== undefined) { t.account = c.account; t.reward = c.reward! }
    t.payloadBytes = jsonBytes(t.payload)
    this.checkBudget(origin, chargeOf(t))
    // The escrow is the last check: once it is taken nothing can refuse the submit.
    if (c.account !== undefined && c.reward !== undefined) {
      const code = this.hooks.escrow === undefined ? 'ERR_NO_ECONOMY' : this.hooks.escrow(id, c.account, origin, c.reward, this.index)
      if (code !== undefined) fail(code, `the reward of ${c.reward} could not be escrowed from ${c.account}`)
    }
    this.lastId = id
    this.tasks.set(id, t)
    this.byState.get('submitted')!.add(id)
    this.liveByOrigin.set(origin, own + 1)
    this.recharge(t)
    this.heap.push({ at: this.queueDeadline(t), task: id, attempt: 0, wait: true })
    if (c.key !== undefined) {
      if (mine === undefined) this.keys.set(origin, new Map([[c.key, id]]))
      else mine.set(c.key, id)
    }
    this.stats.submitted++
    this.emitEvent({ type: 'task:submitted', index: this.index, task: id, origin, target: t.target, allocation: t.allocation })
    return { ok: true, type: 'task.submit', task: id, created: true }
  }

  private known (id: number): Task {
    const t = this.tasks.get(id)
    if (t === undefined) fail('ERR_TASK_NOT_FOUND', `task ${id} does not exist (or was forgotten)`)
    return t
  }

  private assign (c: Extract<TaskCommand, { t: 'task.assign' }>, origin: string): unknown {
    const t = this.known(c.task)
    if (isTerminal(t.state)) fail('ERR_TASK_STATE', `task ${t.id} is ${t.state}`)
    if (c.attempt !== t.attempts + 1) fail('ERR_STALE_ATTEMPT', `task ${t.id} has had ${t.attempts} attempts: the next is ${t.attempts + 1}`)
    if (t.state !== 'submitted') fail('ERR_TASK_STATE', `task ${t.id} is ${t.state}`)
    if (origin !== t.origin && this.now < t.assignableBy) fail('ERR_TOO_EARLY', `task ${t.id} is its submitter's to assign until log time ${t.assignableBy} (now ${this.now})`)
    if ('agent' in t.target && t.target.agent !== c.agent) fail('ERR_TARGET_MISMATCH', `task ${t.id} is for agent ${t.target.agent}`)
    // An agent with an account in the economy runs on its owner's peer: nobody can claim its tasks from
    // another host (and then complete them with a result of its own).
    const owner = this.hooks.ownerOf?.(c.agent)
    if (owner !== undefined && owner !== c.host) fail('ERR_HOST_MISMATCH', `agent ${c.agent} has an account owned by ${owner}: only that peer hosts it`)
    const a: Attempt = { attempt: c.attempt, agent: c.agent, host: c.host, index: this.index, at: this.now, deadline: 0 }
    a.deadline = Math.min(this.now + t.ackMs, this.fullDeadline(t, a))
    const history = [...t.history, a]
    if (history.length > L.attemptsKeptMax) history.shift()
    // The attempt (and the reserve for what its host may still add) is charged to the submitter.
    this.checkBudget(t.origin, chargeOf({ ...t, state: 'assigned', history, attempts: c.attempt, rev: t.rev + 1 }) - t.charge!)
    t.history = history
    t.attempts = c.attempt
    this.setState(t, 'assigned')
    this.addAgent(c.agent, t.id)
    this.heap.push({ at: a.deadline, task: t.id, attempt: a.attempt })
    this.touch(t)
    this.emitEvent({ type: 'task:assigned', index: this.index, task: t.id, attempt: a.attempt, agent: a.agent, host: a.host, deadline: a.deadline })
    return { ok: true, type: 'task.assign', task: t.id, attempt: a.attempt, deadline: a.deadline }
  }

  /**
   * The live attempt `n` of task `id`, acted on by `origin`: an earlier (or unknown) attempt, or one that
   * ended while the task lives on, is stale; one that ended with the task is a state error; only the
   * attempt's host may act on it.
   */
  private current (id: number, n: number, origin: string): { t: Task, a: Attempt } {
    const t = this.known(id)
    if (n !== t.attempts) fail('ERR_STALE_ATTEMPT', `attempt ${n} of task ${t.id} is not its current one (${t.attempts})`)
    const a = this.live(t)
    if (a === undefined) {
      if (isTerminal(t.state)) fail('ERR_TASK_STATE', `task ${t.id} is ${t.state}`)
      fail('ERR_STALE_ATTEMPT', `attempt ${n} of task ${t.id} ended (${t.history[t.history.length - 1]?.end ?? 'unknown'})`)
    }
    if (a.host !== origin) fail('ERR_NOT_HOST', `attempt ${n} of task ${t.id} is hosted by ${a.host}`)
    return { t, a }
  }

  private ack (c: Extract<TaskCommand, { t: 'task.ack' }>, origin: string): unknown {
    const { t, a } = this.current(c.task, c.attempt, origin)
    if (a.lease !== undefined) {
      if (a.lease === c.lease) return { ok: true, type: 'task.ack', task: t.id, attempt: a.attempt, deadline: a.deadline, again: true }
      fail('ERR_TASK_STATE', `attempt ${a.attempt} of task ${t.id} is acked under lease ${a.lease}`)
    }
    if (this.hooks.leaseOwner?.(c.lease) !== origin) fail('ERR_LEASE_NOT_FOUND', `lease ${c.lease} is not a live lease of ${origin}`)
    a.lease = c.lease
    a.ackedAt = this.now
    a.ackIndex = this.index
    a.deadline = this.fullDeadline(t, a)
    const set = this.byLease.get(c.lease)
    if (set === undefined) this.byLease.set(c.lease, new Set([t.id]))
    else set.add(t.id)
    this.heap.push({ at: a.deadline, task: t.id, attempt: a.attempt })
    this.touch(t)
    this.emitEvent({ type: 'task:acked', index: this.index, task: t.id, attempt: a.attempt, host: a.host, lease: c.lease })
    return { ok: true, type: 'task.ack', task: t.id, attempt: a.attempt, deadline: a.deadline }
  }

  private progress (c: Extract<TaskCommand, { t: 'task.progress' }>, origin: string): unknown {
    const { t, a } = this.current(c.task, c.attempt, origin)
    a.progress = c.progress
    if (c.note !== undefined) a.note = c.note
    else delete a.note
    this.touch(t)
    const e: TaskEvent = { type: 'task:progress', index: this.index, task: t.id, attempt: a.attempt, progress: c.progress }
    if (c.note !== undefined) e.note = c.note
    this.emitEvent(e)
    return { ok: true, type: 'task.progress', task: t.id, attempt: a.attempt }
  }

  private complete (c: Extract<TaskCommand, { t: 'task.complete' }>, origin: string): unknown {
    const { t, a } = this.current(c.task, c.attempt, origin)
    // Within the grace period a completion still counts, as late.
    const onTime = this.now <= a.at + t.timeoutMs
    this.closeAttempt(t, a, 'completed')
    t.result = c.result
    t.resultBytes = jsonBytes(c.result)
    this.finish(t, 'completed')
    this.stats.completed++
    this.emitEvent({ type: 'task:completed', index: this.index, task: t.id, attempt: a.attempt, agent: a.agent, host: a.host })
    if (this.accountable(a)) this.hooks.outcome?.(a.agent, { delivered: true, onTime }, this.index)
    this.pay(t, this.accountable(a) ? a.agent : null)
    return { ok: true, type: 'task.complete', task: t.id, attempt: a.attempt, onTime }
  }

  private failAttempt (c: Extract<TaskCommand, { t: 'task.fail' }>, origin: string): unknown {
    const { t, a } = this.current(c.task, c.attempt, origin)
    // The history keeps at most attemptErrorBytesMax of it (what the attempt's reserve covers); the task's
    // error and the events carry it whole.
    a.error = cutJson(c.error, L.attemptErrorBytesMax)
    const state = this.endAttempt(t, a, 'failed', c.retry !== false, c.error)
    return { ok: true, type: 'task.fail', task: t.id, attempt: a.attempt, state }
  }

  private cancel (id: number, origin: string): unknown {
    const t = this.known(id)
    if (t.origin !== origin) fail('ERR_NOT_OWNER', `task ${t.id} was submitted by another peer`)
    if (isTerminal(t.state)) fail('ERR_TASK_STATE', `task ${t.id} is ${t.state}`)
    const a = this.live(t)
    if (a !== undefined) this.closeAttempt(t, a, 'cancelled')
    this.finish(t, 'cancelled')
    this.emitEvent({ type: 'task:cancelled', index: this.index, task: t.id })
    this.pay(t, null)
    return { ok: true, type: 'task.cancel', task: t.id }
  }

  // ---------------------------------------------------------------- transitions

  /** The attempt's whole deadline: timeout plus grace after its assignment. */
  private fullDeadline (t: Task, a: Attempt): number { return a.at + t.timeoutMs + t.graceMs }

  /** The live (not ended) attempt of an assigned task. */
  private live (t: Task): Attempt | undefined {
    if (t.state !== 'assigned') return undefined
    const a = t.history[t.history.length - 1]
    return a !== undefined && a.end === undefined ? a : undefined
  }

  /**
   * Economy hooks act on an attempt's agent only when its host is the agent's account owner (when the
   * economy names one): no submitter or host can move another peer's agent's reputation or stake.
   */
  private accountable (a: Attempt): boolean {
    const owner = this.hooks.ownerOf?.(a.agent)
    return owner === undefined || owner === a.host
  }

  /** Ends an attempt without completing the task: back to `submitted` while retries remain (and `retry`), else `failed`. */
  private endAttempt (t: Task, a: Attempt, end: Exclude<AttemptEnd, 'completed' | 'cancelled'>, retry: boolean, error: string | undefined = a.error): TaskState {
    this.closeAttempt(t, a, end)
    if (this.accountable(a)) {
      this.hooks.outcome?.(a.agent, { delivered: false, onTime: end !== 'timeout' && this.now <= a.at + t.timeoutMs }, this.index)
      // The stake answers only for terms the agent accepted: an attempt it won the task's auction for.
      if ((end === 'failed' || end === 'timeout') && this.acceptedTerms(t, a)) {
        const indexes = [t.submittedIndex, a.index, ...(a.ackIndex !== undefined ? [a.ackIndex] : []), this.index]
        this.hooks.slash?.(a.agent, end === 'failed' ? 'task_failure' : 'timeout_violation', { task: t.id, attempt: a.attempt, indexes }, this.index)
      }
    }
    if (retry && t.attempts <= t.retries) {
      this.setState(t, 'submitted')
      // Anyone may assign a reassigned task at once (the dispatcher of the leader's peer takes over).
      t.assignableBy = this.now
      this.touch(t)
      // It waits for its next assignment at most queueMs.
      this.heap.push({ at: this.queueDeadline(t), task: t.id, attempt: t.attempts, wait: true })
      this.stats.reassigned++
      const e: TaskEvent = { type: 'task:reassigned', index: this.index, task: t.id, attempt: a.attempt, agent: a.agent, host: a.host, reason: end }
      if (error !== undefined) e.error = error
      this.emitEvent(e)
      return 'submitted'
    }
    this.failTask(t, a.attempt, a.agent, end, error)
    return 'failed'
  }

  /** A task ends `failed` (its last attempt ended without a retry, or it waited past its queue deadline); the reward goes back. */
  private failTask (t: Task, attempt: number, agent: string | null, reason: TaskFailReason, error: string | undefined): void {
    if (error !== undefined) t.error = error
    this.finish(t, 'failed')
    this.stats.failed++
    const e: TaskEvent = { type: 'task:failed', index: this.index, task: t.id, attempt, agent, reason }
    if (error !== undefined) e.error = error
    this.emitEvent(e)
    this.pay(t, null)
  }

  /** Log time a task waiting in `submitted` fails `unassigned`: queueMs after its submit, or after its last reassignment (its `assignableBy`). */
  private queueDeadline (t: Task): number {
    return (t.attempts === 0 ? t.submittedAt : t.assignableBy) + (t.queueMs ?? TASK_DEFAULTS.queueMs)
  }

  /** Whether `d` is the current queue deadline of `t` (it still waits since then). */
  private waiting (t: Task, d: Due): boolean {
    return t.state === 'submitted' && t.attempts === d.attempt && this.queueDeadline(t) === d.at
  }

  /** Nobody assigned the task within its queueMs: it fails `unassigned`; nobody's reputation or stake moves. */
  private unassigned (t: Task): void {
    const last = t.history[t.history.length - 1]
    this.failTask(t, t.attempts, last?.agent ?? null, 'unassigned', `not assigned within ${t.queueMs ?? TASK_DEFAULTS.queueMs} ms`)
  }

  /** The attempt's agent won the task's auction for this attempt (`task-<id>-<attempt>`, run by the task's account). */
  private acceptedTerms (t: Task, a: Attempt): boolean {
    return t.account !== undefined && this.hooks.auctionWon?.(`task-${t.id}-${a.attempt}`, a.agent, t.account, t.submittedIndex) === true
  }

  /** Refuses `ERR_LIMIT_EXCEEDED` when `delta` more live bytes exceed the group's or `origin`'s budget. */
  private checkBudget (origin: string, delta: number): void {
    if (delta <= 0) return
    if (this.liveBytes + delta > L.liveBytesMax) fail('ERR_LIMIT_EXCEEDED', `the group's live tasks would take more than ${L.liveBytesMax} bytes`)
    const own = this.liveBytesByOrigin.get(origin) ?? 0
    if (own + delta > L.liveBytesPerOriginMax) fail('ERR_LIMIT_EXCEEDED', `peer ${origin}'s live tasks would take more than ${L.liveBytesPerOriginMax} bytes`)
  }

  /** Charges the task its bytes now ({@link chargeOf}), in the live or finished pool as its state says. */
  private recharge (t: Task): void {
    const live = !isTerminal(t.state)
    const c = chargeOf(t)
    if (t.charge !== undefined) this.pool(t.chargedLive!, t.origin, -t.charge)
    this.pool(live, t.origin, c)
    t.charge = c
    t.chargedLive = live
  }

  private pool (live: boolean, origin: string, delta: number): void {
    if (!live) { this.finishedBytes += delta; return }
    this.liveBytes += delta
    const n = (this.liveBytesByOrigin.get(origin) ?? 0) + delta
    if (n === 0) this.liveBytesByOrigin.delete(origin)
    else this.liveBytesByOrigin.set(origin, n)
  }

  /** Marks the live attempt ended and drops it from the agent and lease indexes. */
  private closeAttempt (t: Task, a: Attempt, end: AttemptEnd): void {
    a.end = end
    a.endIndex = this.index
    const mine = this.byAgent.get(a.agent)
    mine?.delete(t.id)
    if (mine?.size === 0) this.byAgent.delete(a.agent)
    if (a.lease !== undefined) {
      const set = this.byLease.get(a.lease)
      set?.delete(t.id)
      if (set?.size === 0) this.byLease.delete(a.lease)
    }
    this.touch(t)
  }

  /** A task reaches a final state: its submitter's live count drops; the oldest finished tasks beyond the bound are forgotten. */
  private finish (t: Task, state: 'completed' | 'failed' | 'cancelled'): void {
    this.setState(t, state)
    t.finishedIndex = this.index
    t.finishedAt = this.now
    this.touch(t)
    const n = (this.liveByOrigin.get(t.origin) ?? 1) - 1
    if (n === 0) this.liveByOrigin.delete(t.origin)
    else this.liveByOrigin.set(t.origin, n)
    this.finished.set(t.id, true)
    while (this.finished.size > L.finishedTasksMax || this.finishedBytes > L.finishedBytesMax) {
      this.forget(this.finished.keys().next().value!)
    }
  }

  private forget (id: number): void {
    const t = this.tasks.get(id)!
    this.finished.delete(id)
    this.tasks.delete(id)
    this.pool(t.chargedLive!, t.origin, -t.charge!)
    this.byState.get(t.state)!.delete(id)
    if (t.key !== undefined) {
      const mine = this.keys.get(t.origin)
      if (mine?.get(t.key) === id) mine.delete(t.key)
      if (mine?.size === 0) this.keys.delete(t.origin)
    }
    this.stats.forgotten++
  }

  private pay (t: Task, to: string | null): void {
    if (t.reward !== undefined) this.hooks.payout?.(t.id, to, this.index)
  }

  private setState (t: Task, s: TaskState): void {
    this.byState.get(t.state)!.delete(t.id)
    t.state = s
    this.byState.get(s)!.add(t.id)
  }

  private addAgent (agent: string, id: number): void {
    const set = this.byAgent.get(agent)
    if (set === undefined) this.byAgent.set(agent, new Set([id]))
    else set.add(id)
  }

  /** Every change of a task: its revision grows and its bytes are charged again. */
  private touch (t: Task): void {
    t.rev++
    this.recharge(t)
  }

  // ---------------------------------------------------------------- reads

  /** The task's record as a view (a copy), undefined when unknown or forgotten. */
  get (id: number): TaskView | undefined {
    const t = this.tasks.get(id)
    return t === undefined ? undefined : record(t, true) as unknown as TaskView
  }

  /** Submitted tasks (waiting for an assignment), in id order. */
  * pending (): IterableIterator<TaskView> {
    for (const id of [...this.byState.get('submitted')!].sort((a, b) => a - b)) {
      const v = this.get(id)
      if (v !== undefined) yield v
    }
  }

  /** The number of tasks assigned to `agent` now (their live attempt is its). */
  liveTasksOf (agent: string): number { return this.byAgent.get(agent)?.size ?? 0 }

  /** Ids of the tasks in `state` (or all), ascending, after `after`, at most `limit` (≤ listPageMax). */
  list (state: TaskState | 'all', after = 0, limit: number = L.listPageMax): number[] {
    const max = Math.min(Math.max(0, limit), L.listPageMax)
    const out: number[] = []
    if (state === 'all') {
      for (const id of this.tasks.keys()) {
        if (out.length >= max) break
        if (id > after) out.push(id)
      }
      return out
    }
    const ids = [...this.byState.get(state)!].filter(id => id > after).sort((a, b) => a - b)
    return ids.slice(0, max)
  }

  /** The reward of every live task that has one, by task id (what the economy must hold in escrow). */
  liveRewards (): Map<number, number> {
    const out = new Map<number, number>()
    for (const s of ['submitted', 'assigned'] as const) {
      for (const id of this.byState.get(s)!) { const r = this.tasks.get(id)!.reward; if (r !== undefined) out.set(id, r) }
    }
    return out
  }

  /** Counts per state (and live / remembered totals). */
  counts (): Record<TaskState, number> & { live: number, total: number } {
    const out = Object.fromEntries(TASK_STATES.map(s => [s, this.byState.get(s)!.size])) as Record<TaskState, number>
    return { ...out, live: out.submitted + out.assigned, total: this.tasks.size }
  }

  /** The earliest pending attempt deadline (undefined when none): the leader proposes a tick once its clock passes it. */
  nextDeadline (): number | undefined {
    for (;;) {
      const d = this.heap.peek()
      if (d === undefined) return undefined
      const t = this.tasks.get(d.task)
      if (d.wait === true) {
        if (t !== undefined && this.waiting(t, d)) return d.at
      } else {
        const a = t === undefined ? undefined : this.live(t)
        if (a !== undefined && a.attempt === d.attempt && a.deadline === d.at) return d.at
      }
      this.heap.pop()
    }
  }

  /**
   * Serves `task:<id>` (TaskView), `tasks:<state|all>[@<after>]` (a page of ids, ascending),
   * `tasks:agent:<agent>` (ids of its assigned tasks) and `tasks:stats` (JSON text; undefined when absent).
   */
  read (name: string): string | undefined {
    if (name.startsWith('task:')) {
      const id = parseId(name.slice(5))
      const v = id === undefined ? undefined : this.get(id)
      return v === undefined ? undefined : JSON.stringify(v)
    }
    if (!name.startsWith('tasks:')) return undefined
    const rest = name.slice(6)
    if (rest === 'stats') return JSON.stringify(this.counts())
    if (rest.startsWith('agent:')) return JSON.stringify([...this.byAgent.get(rest.slice(6)) ?? []].sort((a, b) => a - b))
    const at = rest.indexOf('@')
    const state = at < 0 ? rest : rest.slice(0, at)
    const after = at < 0 ? 0 : parseId(rest.slice(at + 1))
    if (after === undefined || (state !== 'all' && !TASK_STATES.includes(state as TaskState))) return undefined
    return JSON.stringify(this.list(state as TaskState | 'all', after))
  }

  /** The revision of task `task:<id>` (it grows with every change of the task; 0 when absent): what a watch waits on. */
  revision (name: string): number {
    if (!name.startsWith('task:')) return 0
    const id = parseId(name.slice(5))
    return id === undefined ? 0 : this.tasks.get(id)?.rev ?? 0
  }

  // ---------------------------------------------------------------- invariants

  /**
   * Every invariant, as a list of violations (empty when all hold): attempts numbered and kept in order,
   * at most one live attempt (the last, exactly when the task is assigned), a completed task has exactly
   * one attempt that ended `completed` (its last), finished tasks and only they have a finish index and
   * are in the finished queue, and the state, origin, agent, lease and key indexes match the records.
   */
  invariants (): string[] {
    const out: string[] = []
    const byState = new Map<TaskState, number>(TASK_STATES.map(s => [s, 0]))
    const live = new Map<string, number>()
    const agents = new Map<string, number>()
    const leases = new Map<number, number>()
    let prev = 0
    for (const [id, t] of this.tasks) {
      if (id !== t.id || id <= prev || id > this.lastId) out.push(`task ${id}: id out of order`)
      prev = id
      byState.set(t.state, byState.get(t.state)! + 1)
      if (!this.byState.get(t.state)!.has(id)) out.push(`task ${id}: not indexed as ${t.state}`)
      const h = t.history
      if (h.length > L.attemptsKeptMax || h.length > t.attempts) out.push(`task ${id}: ${h.length} attempts kept of ${t.attempts}`)
      h.forEach((a, i) => { if (a.attempt !== t.attempts - h.length + 1 + i) out.push(`task ${id}: attempt ${a.attempt} out of order`) })
      const open = h.filter(a => a.end === undefined)
      if (open.length > 1 || (open.length === 1 && open[0] !== h[h.length - 1])) out.push(`task ${id}: ${open.length} live attempts`)
      if ((t.state === 'assigned') !== (open.length === 1)) out.push(`task ${id}: ${t.state} with ${open.length} live attempts`)
      const completed = h.filter(a => a.end === 'completed')
      if (t.state === 'completed' && (completed.length !== 1 || completed[0] !== h[h.length - 1] || t.result === undefined)) out.push(`task ${id}: completed without exactly one completing attempt`)
      if (t.state !== 'completed' && completed.length > 0) out.push(`task ${id}: ${t.state} with a completed attempt`)
      if (t.attempts > t.retries + 1) out.push(`task ${id}: ${t.attempts} attempts with ${t.retries} retries`)
      if (isTerminal(t.state) !== (t.finishedIndex !== undefined) || isTerminal(t.state) !== this.finished.has(id)) out.push(`task ${id}: ${t.state} and finish record disagree`)
      if (!isTerminal(t.state)) live.set(t.origin, (live.get(t.origin) ?? 0) + 1)
      const a = open[0]
      if (a !== undefined) {
        agents.set(a.agent, (agents.get(a.agent) ?? 0) + 1)
        if (this.byAgent.get(a.agent)?.has(id) !== true) out.push(`task ${id}: not indexed under agent ${a.agent}`)
        if (a.lease !== undefined) {
          leases.set(a.lease, (leases.get(a.lease) ?? 0) + 1)
          if (this.byLease.get(a.lease)?.has(id) !== true) out.push(`task ${id}: not indexed under lease ${a.lease}`)
        }
      }
      if (t.key !== undefined && this.keys.get(t.origin)?.get(t.key) !== id) out.push(`task ${id}: key ${t.key} not indexed`)
    }
    for (const s of TASK_STATES) if (this.byState.get(s)!.size !== byState.get(s)) out.push(`${s}: index holds ${this.byState.get(s)!.size}, records ${byState.get(s)!}`)
    const sizes = <K>(m: Map<K, { size: number }>): Map<K, number> => new Map([...m].map(([k, v]) => [k, v.size]))
    const same = <K>(a: Map<K, number>, b: Map<K, number>): boolean => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v)
    if (!same(live, this.liveByOrigin)) out.push('live tasks per origin disagree with the records')
    if (!same(agents, sizes(this.byAgent))) out.push('tasks per agent disagree with the records')
    if (!same(leases, sizes(this.byLease))) out.push('tasks per lease disagree with the records')
    let keyed = 0
    for (const m of this.keys.values()) keyed += m.size
    if (keyed !== [...this.tasks.values()].filter(t => t.key !== undefined).length) out.push('idempotency keys disagree with the records')
    // Bytes: every charge is its record's now (a pure function), the pools sum them, and an assigned
    // task's record stays within its charge (the live attempt's reserve covers what it gained).
    const liveBytes = new Map<string, number>()
    let liveAll = 0
    let finishedAll = 0
    for (const [id, t] of this.tasks) {
      const c = chargeOf(t)
      if (c !== t.charge || t.chargedLive !== !isTerminal(t.state)) out.push(`task ${id}: charged ${t.charge ?? '-'} bytes, its record ${c}`)
      if (isTerminal(t.state)) finishedAll += c
      else { liveAll += c; liveBytes.set(t.origin, (liveBytes.get(t.origin) ?? 0) + c) }
      if (t.state === 'assigned' && Buffer.byteLength(JSON.stringify(record(t, false))) + 1 > c) out.push(`task ${id}: its record outgrew its charge of ${c} bytes`)
    }
    if (liveAll !== this.liveBytes || finishedAll !== this.finishedBytes || !same(liveBytes, this.liveBytesByOrigin)) out.push('bytes charged disagree with the records')
    const n = byState.get('submitted')! + byState.get('assigned')!
    if (n > L.liveTasksMax || this.finished.size > L.finishedTasksMax) out.push('a task bound is exceeded')
    return out
  }

  // ---------------------------------------------------------------- snapshots

  /** True while no task was ever submitted (older snapshot versions suffice; log time is the coordination machine's too). */
  isPristine (): boolean { return this.lastId === 0 && this.tasks.size === 0 }

  /** The whole state as JSON (deterministic: the same on every replica at the same index). */
  snapshotJson (): unknown {
    return {
      v: 1,
      now: this.now,
      last: this.lastId,
      tasks: [...this.tasks.values()].map(t => record(t, false)),
      finished: [...this.finished.keys()]
    }
  }

  /** Restores {@link snapshotJson}'s output; throws DecodeError (`ERR_DECODE`) on anything else. */
  static restore (snap: unknown, hooks: TaskHooks = {}): TaskMachine {
    const m = new TaskMachine(hooks)
    try {
      const s = snap as { v: unknown, now: unknown, last: unknown, tasks: unknown, finished: unknown }
      if (s === null || typeof s !== 'object' || s.v !== 1) throw new Error('unknown version')
      if (!Number.isSafeInteger(s.now) || !Number.isSafeInteger(s.last) || !Array.isArray(s.tasks) || !Array.isArray(s.finished)) throw new Error('malformed')
      m.now = s.now as number
      m.lastId = s.last as number
      for (const x of s.tasks as unknown[]) {
        const t = checkTask(x)
        if (m.tasks.has(t.id)) throw new Error(`task ${t.id} twice`)
        m.tasks.set(t.id, t)
        m.byState.get(t.state)!.add(t.id)
        if (t.key !== undefined) {
          const mine = m.keys.get(t.origin)
          if (mine === undefined) m.keys.set(t.origin, new Map([[t.key, t.id]]))
          else mine.set(t.key, t.id)
        }
        if (!isTerminal(t.state)) m.liveByOrigin.set(t.origin, (m.liveByOrigin.get(t.origin) ?? 0) + 1)
        t.payloadBytes = jsonBytes(t.payload)
        if (t.result !== undefined) t.resultBytes = jsonBytes(t.result)
        m.recharge(t)
        if (t.state === 'submitted') m.heap.push({ at: m.queueDeadline(t), task: t.id, attempt: t.attempts, wait: true })
        const a = m.live(t)
        if (a !== undefined) {
          m.addAgent(a.agent, t.id)
          if (a.lease !== undefined) {
            const set = m.byLease.get(a.lease)
            if (set === undefined) m.byLease.set(a.lease, new Set([t.id]))
            else set.add(t.id)
          }
          m.heap.push({ at: a.deadline, task: t.id, attempt: a.attempt })
        }
      }
      for (const id of s.finished as unknown[]) {
        if (!isId(id)) throw new Error('bad finished id')
        m.finished.set(id, true)
      }
      const bad = m.invariants()
      if (bad.length > 0) throw new Error(bad.slice(0, 3).join('; '))
    } catch (err) {
      throw new DecodeError('task snapshot', (err as Error).message)
    }
    return m
  }
}

const TASK_KEYS = ['id', 'state', 'origin', 'target', 'allocation', 'payload', 'retries', 'timeoutMs', 'graceMs', 'ackMs', 'queueMs', 'key', 'account', 'reward', 'agent', 'attempts', 'history', 'result', 'error', 'submittedIndex', 'submittedAt', 'finishedIndex', 'finishedAt', 'assignableBy', 'rev'] as const
const ATTEMPT_KEYS = ['attempt', 'agent', 'host', 'index', 'at', 'lease', 'ackedAt', 'ackIndex', 'deadline', 'progress', 'note', 'end', 'endIndex', 'error'] as const

/** The defined fields of `o` among `keys`, in that order. */
function pick (o: object, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of keys) {
    const v = (o as Record<string, unknown>)[k]
    if (v !== undefined) out[k] = v
  }
  return out
}

/**
 * A task as a detached plain object with its fields in one fixed order, whatever order they were set in
 * (snapshots and reads are byte-identical on every replica, restored or not); with `agent` for a view.
 */
function record (t: Task, view: boolean, copy = true): Record<string, unknown> {
  const last = t.history[t.history.length - 1]
  // A view shows the queue window of a task from before it (absent in its record): the default.
  // `copy: false` shares the target (only to be serialised at once, as chargeOf does).
  const out = pick({ ...t, target: copy ? structuredClone(t.target) : t.target, history: t.history.map(a => pick(a, ATTEMPT_KEYS)), agent: view ? last?.agent ?? null : undefined, queueMs: view ? t.queueMs ?? TASK_DEFAULTS.queueMs : t.queueMs }, TASK_KEYS)
  return out
}

/** The fields of a live attempt fixed at its assignment; what else it may gain is {@link TASK_LIMITS}.attemptReserveBytes. */
const ATTEMPT_FIXED_KEYS = ['attempt', 'agent', 'host', 'index', 'at'] as const

/**
 * The bytes a task is charged: its record as the snapshot writes it (UTF-8 JSON, every escape counted,
 * plus its separating comma), except that a live attempt counts its fixed fields plus
 * `attemptReserveBytes` (what its host and log time may still add to it, so that acks, progress notes and
 * errors never take the group past its budget). A pure function of the record: the same on every replica,
 * restored or not.
 */
function chargeOf (t: Task): number {
  const r = record(t, false, false)
  let extra = 1 + (t.payloadBytes ?? jsonBytes(t.payload)) - 2
  r.payload = ''
  if (t.result !== undefined) { r.result = ''; extra += (t.resultBytes ?? jsonBytes(t.result)) - 2 }
  const h = t.history
  const live = t.state === 'assigned' && h.length > 0 && h[h.length - 1]!.end === undefined
  if (live) {
    r.history = [...(r.history as unknown[]).slice(0, -1), pick(h[h.length - 1]!, ATTEMPT_FIXED_KEYS)]
    extra += L.attemptReserveBytes
  }
  return Buffer.byteLength(JSON.stringify(r)) + extra
}

function parseId (s: string): number | undefined {
  if (!/^[0-9]{1,16}$/.test(s)) return undefined
  const n = Number(s)
  return Number.isSafeInteger(n) ? n : undefined
}

const ATTEMPT_ENDS: readonly AttemptEnd[] = ['failed', 'timeout', 'ack-timeout', 'host-lost', 'cancelled', 'completed']

/** A task record of a snapshot, checked field by field (a copy). */
function checkTask (x: unknown): Task {
  const o = x as Record<string, unknown>
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new Error('a task is an object')
  const int = (v: unknown, what: string): number => { if (!Number.isSafeInteger(v)) throw new Error(`${what} is not an integer`); return v as number }
  const str = (v: unknown, what: string): string => { if (typeof v !== 'string' || !isWellFormed(v)) throw new Error(`${what} is not a string`); return v }
  const optInt = (v: unknown, what: string): number | undefined => v === undefined ? undefined : int(v, what)
  const optStr = (v: unknown, what: string): string | undefined => v === undefined ? undefined : str(v, what)
  if (!TASK_STATES.includes(o.state as TaskState)) throw new Error('bad state')
  if (!ALLOCATIONS.includes(o.allocation as Allocation)) throw new Error('bad allocation')
  if (!Array.isArray(o.history)) throw new Error('history is not an array')
  const t: Task = {
    id: int(o.id, 'id'),
    state: o.state as TaskState,
    origin: str(o.origin, 'origin'),
    target: parseTarget(o.target),
    allocation: o.allocation as Allocation,
    payload: str(o.payload, 'payload'),
    retries: int(o.retries, 'retries'),
    timeoutMs: int(o.timeoutMs, 'timeoutMs'),
    graceMs: int(o.graceMs, 'graceMs'),
    ackMs: int(o.ackMs, 'ackMs'),
    attempts: int(o.attempts, 'attempts'),
    history: (o.history as unknown[]).map(h => {
      const r = h as Record<string, unknown>
      if (r === null || typeof r !== 'object') throw new Error('an attempt is an object')
      const a: Attempt = { attempt: int(r.attempt, 'attempt'), agent: str(r.agent, 'agent'), host: str(r.host, 'host'), index: int(r.index, 'index'), at: int(r.at, 'at'), deadline: int(r.deadline, 'deadline') }
      const opt: Array<[keyof Attempt, unknown]> = [['lease', optInt(r.lease, 'lease')], ['ackedAt', optInt(r.ackedAt, 'ackedAt')], ['ackIndex', optInt(r.ackIndex, 'ackIndex')], ['progress', r.progress], ['note', optStr(r.note, 'note')], ['end', r.end], ['endIndex', optInt(r.endIndex, 'endIndex')], ['error', optStr(r.error, 'error')]]
      if (r.progress !== undefined && typeof r.progress !== 'number') throw new Error('bad progress')
      if (r.end !== undefined && !ATTEMPT_ENDS.includes(r.end as AttemptEnd)) throw new Error('bad attempt end')
      for (const [k, v] of opt) if (v !== undefined) (a as unknown as Record<string, unknown>)[k] = v
      return a
    }),
    submittedIndex: int(o.submittedIndex, 'submittedIndex'),
    submittedAt: int(o.submittedAt, 'submittedAt'),
    assignableBy: int(o.assignableBy, 'assignableBy'),
    rev: int(o.rev, 'rev')
  }
  const opt: Array<[keyof Task, unknown]> = [['queueMs', optInt(o.queueMs, 'queueMs')], ['key', optStr(o.key, 'key')], ['account', optStr(o.account, 'account')], ['reward', optInt(o.reward, 'reward')], ['result', optStr(o.result, 'result')], ['error', optStr(o.error, 'error')], ['finishedIndex', optInt(o.finishedIndex, 'finishedIndex')], ['finishedAt', optInt(o.finishedAt, 'finishedAt')]]
  for (const [k, v] of opt) if (v !== undefined) (t as unknown as Record<string, unknown>)[k] = v
  return t
}
