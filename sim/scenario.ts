/**
 * Scenario files (the public contract in SCENARIOS.md): parsing and validation. A scenario is JSON or
 * YAML (YAML is a superset of JSON). Every problem is a {@link ScenarioError} naming the step index and
 * the field.
 *
 * A scenario containing any `run` step is in *timed mode*: messages travel with the file's `network`
 * latency and are delivered while `run` advances the virtual clock. Otherwise it is in *step mode*: after
 * each step the network delivers every queued message to quiescence.
 *
 * Additions to the contract (new fields; the contract's meaning is unchanged):
 * - `tickMs` (timed mode): the tick interval of every node in virtual ms. Default 10.
 * - `network.reorder`: probability of an extra delay. Default 0.
 * - `{"expect": {...}}` fields, see {@link Expectation}.
 * - `client` values are strings or numbers (null is refused: it means "absent", the `expected` of a cas
 *   on a missing key).
 * - `auction.timeoutMs`: how long (virtual ms) the verb waits for the auction to settle before it records
 *   a refusal and lets it go on in the background (default 10,000); `auction.durationMs`: its bidding
 *   period in log time (default 60,000). See sim/agents.ts.
 * - `auction.sealed` (`"open"` | `"commit"`, first-price and vickrey), `auction.deposit`, `auction.revealMs`:
 *   sealed bids by commit-reveal; `agent.reveal: false`: the agent commits but never reveals.
 * - `expect.auction`, `expect.account`, `expect.supply`: the economy, see {@link Expectation}.
 * - Coordination verbs (SCENARIOS.md "Extension: coordination"): `lease`, `revoke`, `keepalive`, `lock`,
 *   `unlock`, `elect`, `resign`, `proclaim`, `barrier`, `vote`, `ballot` ({@link CoordStep}); `expect`
 *   fields `lock`, `election`, `barrier`, `votes`, `lease`. See sim/coordination.ts.
 * - Task and message verbs (SCENARIOS.md "Extension: tasks and messages"): `worker`, `task`, `message`
 *   ({@link TaskStep}); `expect` fields `task`, `message`. See sim/tasks.ts.
 */
import { STRONG_NAME_RE } from '../protocols/variables/strong-map.js'
import { COORD_LIMITS, COORD_NAME_RE } from '../protocols/coordination/types.js'
import type { VoteRule } from '../protocols/coordination/types.js'
import { TASK_LIMITS } from '../protocols/tasks/types.js'
import { nullObject } from '../src/base/input.js'
import { parseDocument } from 'yaml'
import { ScenarioError } from './errors.js'

export interface RaftScenarioOptions {
  electionTick: number
  heartbeatTick: number
  preVote: boolean
  checkQuorum: boolean
}

export interface InitState { term: number, vote: number, log: number[], commit: number }

export interface NetworkSpec { latencyMs: [number, number], drop: number, duplicate: number, reorder: number }

/** Values a per-node expectation takes: one value for every live node, or a map from node id ("1") to value. */
export type PerNode<T> = T | Record<string, T>

/**
 * Assertions of an `expect` step (all optional; every given one must hold):
 * - `leader`: node i is a leader and no live node is leader in a higher term; 0 = no live leader.
 * - `role`, `term`, `vote`, `commit`, `applied`, `firstIndex`, `lastIndex`: per node (crashed nodes have role `crashed`).
 * - `log`: per node, the exact `[index, term, data]` entries still in the log; `logTerms`: just their terms.
 * - `readStates`: per node, the read states answered so far (`[{index, ctx}]`).
 * - `voters` / `learners`: per node, the sorted ids of the configuration it applied.
 * - `refusals`: how many steps the cluster refused so far.
 * - `kv`: key → value every live node's applied KV state must hold (timed mode; null = absent).
 * - `violations`: how many invariant violations so far (usually 0).
 * - `linearizable`: the client history so far is (true) or is not (false) linearizable.
 * - `auction`: auction id → the report's view of it must match the given fields: `status` (`open`,
 *   `settled`, `no-sale`...), `winner` (the agent of the only award; null: no award), `price` (that
 *   award's price), `winners` (the awards in order: agent ids, or objects with `agent` and optionally
 *   `items`, `price`), `clearingPrice`, `quantity`, `welfare`.
 * - `account`: account id → any of `free`, `staked`, `escrow`, `reputation` (null: the account must not exist).
 * - `supply`: any of `minted`, `total` (total = circulating + burned; conservation: equal to minted).
 * The economy fields are read from the economy shown in the report (the leader's, else the live node
 * that applied most).
 * - `lock`: lock name → `holder` (node id; null: free), `holders` (node ids, a semaphore's), `token` (the
 *   holder's), `waiters` (node ids in queue order), `granted` (node ids granted it so far, in log order).
 * - `election`: election name → `leader` (node id; null: none), `value` (the leader's, any JSON),
 *   `candidates` (waiting node ids in order), `elected` (node ids elected so far, in log order).
 * - `barrier`: barrier name → `generation` (the one waiting now), `arrived` (its agents, in order),
 *   `outcomes` (`released`/`broken` of the ended generations, oldest first, at most 16).
 * - `votes`: vote label (the `vote` step's `id`) → `status` (`open`, `decided`, `failed`), `outcome`
 *   (the winning option; null: none), `reason` (`threshold`, `unreachable`, `deadline`).
 * - `lease`: lease name → true while it is live, false once expired or revoked (or never granted).
 * The coordination fields are read from the machine of the node the report shows (as the economy).
 */
export interface Expectation {
  leader?: number
  role?: PerNode<string>
  term?: PerNode<number>
  vote?: PerNode<number>
  commit?: PerNode<number>
  applied?: PerNode<number>
  firstIndex?: PerNode<number>
  lastIndex?: PerNode<number>
  log?: PerNode<Array<[number, number, string]>>
  logTerms?: PerNode<number[]>
  readStates?: PerNode<Array<{ index: number, ctx: string }>>
  voters?: PerNode<number[]>
  learners?: PerNode<number[]>
  refusals?: number
  kv?: Record<string, string | number | null>
  violations?: number
  linearizable?: boolean
  auction?: Record<string, AuctionExpect>
  account?: Record<string, Record<string, number> | null>
  supply?: { minted?: number, total?: number }
  lock?: Record<string, LockExpect>
  election?: Record<string, ElectionExpect>
  barrier?: Record<string, BarrierExpect>
  votes?: Record<string, VoteExpect>
  lease?: Record<string, boolean>
  task?: Record<string, TaskExpect>
  message?: Record<string, MessageExpect>
}

/**
 * `expect.task`: task label (the `task` step's `id`) → `state`, `agent` (the current or last attempt's),
 * `attempts`, `completedBy` (the attempt that completed it; null: none), `ends` (how its ended attempts
 * ended, in order: `timeout`, `host-lost`...), `created` (its submit created it; false: an idempotent
 * repeat), `sameAs` (another label naming the same task).
 */
export interface TaskExpect { state?: string, agent?: string | null, attempts?: number, completedBy?: number | null, ends?: string[], created?: boolean, sameAs?: string }
/** `expect.message`: message label → `status` (`acked`, `timeout`, `refused`, `sent`), `delivered` (times). */
export interface MessageExpect { status?: string, delivered?: number }

/** The task and message verbs (SCENARIOS.md "Extension: tasks and messages"). */
export type TaskStep =
  | { kind: 'worker', agent: string, node?: number, capabilities?: string[], does?: 'complete' | 'fail' | 'hang' | 'silent', workMs?: number }
  | { kind: 'task', id: string, node: number, target: { agent: string } | { capability: string }, payload: string, retries?: number, timeoutMs?: number, ackMs?: number, key?: string }
  | { kind: 'message', id: string, from: string, to: string, timeoutMs: number }
  | { kind: 'cancel', task: string }

export interface LockExpect { holder?: number | null, holders?: number[], token?: number, waiters?: number[], granted?: number[] }
export interface ElectionExpect { leader?: number | null, value?: unknown, candidates?: number[], elected?: number[] }
export interface BarrierExpect { generation?: number, arrived?: string[], outcomes?: Array<'released' | 'broken'> }
export interface VoteExpect { status?: 'open' | 'decided' | 'failed', outcome?: string | null, reason?: 'threshold' | 'unreachable' | 'deadline' }

/**
 * The coordination verbs (SCENARIOS.md "Extension: coordination"), flattened. `lease` names a lease
 * granted by a `lease` step (default `n<node>`: the node's own lease, granted on first use with the
 * default TTL when no step granted it).
 */
export type CoordStep =
  | { kind: 'lease', node: number, name: string, ttlMs: number, keepalive: boolean }
  | { kind: 'revoke', node: number, lease: string }
  | { kind: 'keepalive', node: number, auto?: boolean }
  | { kind: 'lock', node: number, name: string, lease: string, wait: boolean, waitMs?: number, permits?: number }
  | { kind: 'unlock', node: number, name: string, lease: string }
  | { kind: 'elect', node: number, name: string, lease: string, value: string, waitMs?: number }
  | { kind: 'resign', node: number, name: string, lease: string }
  | { kind: 'proclaim', node: number, name: string, lease: string, value: string }
  | { kind: 'barrier', node: number, name: string, parties: number, agent: string, lease: string, waitMs: number }
  | { kind: 'vote', node: number, id: string, options: string[], voters: Array<{ agent: string, node: number }>, rule: VoteRule, deadlineMs: number, topic?: string }
  | { kind: 'ballot', node: number, vote: string, agent: string, choice: string }

export interface AuctionExpect {
  status?: string
  winner?: string | null
  price?: number
  winners?: Array<string | { agent: string, items?: string[], price?: number }>
  clearingPrice?: number | null
  quantity?: number
  welfare?: number | null
}

export type ClientOp =
  | { node: number, op: 'read', key: string }
  | { node: number, op: 'write', key: string, value: string | number }
  | { node: number, op: 'cas', key: string, expected: string | number | null, value: string | number }

export type Step =
  | { kind: 'campaign', node: number }
  | { kind: 'propose', node: number, data: string }
  | { kind: 'tick', node: number | 'all', times: number }
  | { kind: 'heartbeat', node: number }
  | { kind: 'readIndex', node: number, ctx: string }
  | { kind: 'transfer', to: number, via: number }
  | { kind: 'addNode', node: number, learner: boolean }
  | { kind: 'removeNode', node: number }
  | { kind: 'compact', node: number, index: number }
  | { kind: 'isolate', node: number }
  | { kind: 'cut', a: number, b: number }
  | { kind: 'partition', groups: number[][] }
  | { kind: 'drop', type: MessageKind }
  | { kind: 'recover' }
  | { kind: 'crash', node: number }
  | { kind: 'restart', node: number }
  | { kind: 'expect', expect: Expectation }
  | { kind: 'run', ms: number }
  | { kind: 'client', client: ClientOp }
  | { kind: 'mint', account: string, amount: number }
  | { kind: 'agent', agent: Record<string, unknown> }
  | { kind: 'auction', auction: Record<string, unknown> }
  | { kind: 'stake', account: string, amount: number }
  | { kind: 'slash', account: string, condition: string }
  | CoordStep
  | TaskStep

export type StepKind = Step['kind']

export const MESSAGE_KINDS = ['append', 'appendResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'heartbeat', 'heartbeatResp', 'snapshot', 'timeoutNow', 'readIndex'] as const
export type MessageKind = typeof MESSAGE_KINDS[number]

export const AUCTION_TYPES = ['english', 'dutch', 'first-price', 'vickrey', 'combinatorial', 'uniform', 'double'] as const
export const SLASH_CONDITIONS = ['task_failure', 'timeout_violation', 'byzantine_behavior', 'reputation_threshold'] as const

export interface Scenario {
  name: string
  nodes: number
  learners: number[]
  seed: number
  raft: RaftScenarioOptions
  init: Map<number, InitState>
  network: NetworkSpec
  tickMs: number
  steps: Step[]
  /** True when the scenario has a `run` step (see the module doc). */
  timed: boolean
}

/** Limits on scenario input. */
export const SCENARIO_NODES_MAX = 64
export const SCENARIO_STEPS_MAX = 100_000
export const SCENARIO_TICK_TIMES_MAX = 1_000_000
export const SCENARIO_RUN_MS_MAX = 100_000_000
/** Tick rounds one `run` step may span (ms / tickMs). */
export const SCENARIO_RUN_TICKS_MAX = 1_000_000
export const SCENARIO_INIT_LOG_MAX = 100_000

const VERBS = new Set(['campaign', 'propose', 'tick', 'heartbeat', 'readIndex', 'transfer', 'addNode', 'removeNode', 'compact',
  'isolate', 'cut', 'partition', 'drop', 'recover', 'crash', 'restart', 'expect', 'run', 'client', 'mint', 'agent', 'auction', 'stake', 'slash',
  'lease', 'revoke', 'keepalive', 'lock', 'unlock', 'elect', 'resign', 'proclaim', 'barrier', 'vote', 'ballot', 'worker', 'task', 'message', 'cancel'])

/** Default TTL of a lease (ms of log time) granted by a `lease` step without `ttlMs`, or on first use. */
export const COORD_TTL_MS_DEFAULT = 2000
/** Default time a barrier generation waits for its parties, and a vote for its ballots (ms of log time). */
export const COORD_WAIT_MS_DEFAULT = 10_000

/** Extra fields allowed next to each verb. */
const VERB_FIELDS: Record<string, readonly string[]> = {
  propose: ['data'], tick: ['times'], readIndex: ['ctx'], addNode: ['learner'], compact: ['index']
}

/** Parse scenario text (JSON or YAML) and validate it. */
export function parseScenario (text: string): Scenario {
  let raw: unknown
  // Warnings (an unresolved tag, an ambiguous alias...) mean the text would be read as something else
  // than it says: refused like errors, and nothing is printed.
  let problem: { message: string } | undefined
  try {
    const doc = parseDocument(text, { logLevel: 'silent', uniqueKeys: true })
    problem = doc.errors[0] ?? doc.warnings[0]
    if (problem === undefined) raw = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    problem = err as Error
  }
  if (problem !== undefined) throw new ScenarioError(-1, 'file', `not valid JSON/YAML: ${problem.message.split('\n')[0] ?? ''}`)
  return validateScenario(raw)
}

function isObj (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function int (v: unknown, step: number, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ScenarioError(step, field, `expected an integer, got ${JSON.stringify(v)}`)
  if (v < min || v > max) throw new ScenarioError(step, field, `${v} is out of range [${min}, ${max}]`)
  return v
}

function num (v: unknown, step: number, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ScenarioError(step, field, `expected a number, got ${JSON.stringify(v)}`)
  if (v < min || v > max) throw new ScenarioError(step, field, `${v} is out of range [${min}, ${max}]`)
  return v
}

function str (v: unknown, step: number, field: string): string {
  if (typeof v !== 'string') throw new ScenarioError(step, field, `expected a string, got ${JSON.stringify(v)}`)
  return v
}

function bool (v: unknown, step: number, field: string): boolean {
  if (typeof v !== 'boolean') throw new ScenarioError(step, field, `expected true or false, got ${JSON.stringify(v)}`)
  return v
}

function scalar (v: unknown, step: number, field: string): string | number | null {
  if (v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) return v
  throw new ScenarioError(step, field, `expected a string, number or null, got ${JSON.stringify(v)}`)
}

function value (v: unknown, step: number, field: string): string | number {
  if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) return v
  throw new ScenarioError(step, field, `expected a string or a number, got ${JSON.stringify(v)}`)
}

function noExtra (o: Record<string, unknown>, allowed: readonly string[], step: number, prefix: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new ScenarioError(step, prefix === '' ? k : `${prefix}.${k}`, 'unknown field')
  }
}

/** Validate an already-decoded scenario object. */
export function validateScenario (raw: unknown): Scenario {
  if (!isObj(raw)) throw new ScenarioError(-1, 'file', 'a scenario is an object')
  noExtra(raw, ['name', 'nodes', 'learners', 'seed', 'raft', 'init', 'network', 'tickMs', 'steps'], -1, '')
  const name = raw.name === undefined ? 'scenario' : str(raw.name, -1, 'name')
  const nodes = int(raw.nodes, -1, 'nodes', 1, SCENARIO_NODES_MAX)
  const node = (v: unknown, step: number, field: string): number => int(v, step, field, 1, nodes)
  const learners: number[] = []
  if (raw.learners !== undefined) {
    if (!Array.isArray(raw.learners)) throw new ScenarioError(-1, 'learners', 'expected an array of node ids')
    raw.learners.forEach((v, i) => learners.push(node(v, -1, `learners[${i}]`)))
    if (learners.length >= nodes) throw new ScenarioError(-1, 'learners', 'at least one node must be a voter')
  }
  const seed = raw.seed === undefined ? 1 : int(raw.seed, -1, 'seed', 0, Number.MAX_SAFE_INTEGER)
  const raft: RaftScenarioOptions = { electionTick: 10, heartbeatTick: 1, preVote: false, checkQuorum: false }
  if (raw.raft !== undefined) {
    if (!isObj(raw.raft)) throw new ScenarioError(-1, 'raft', 'expected an object')
    noExtra(raw.raft, ['electionTick', 'heartbeatTick', 'preVote', 'checkQuorum'], -1, 'raft')
    if (raw.raft.electionTick !== undefined) raft.electionTick = int(raw.raft.electionTick, -1, 'raft.electionTick', 2, 1_000_000)
    if (raw.raft.heartbeatTick !== undefined) raft.heartbeatTick = int(raw.raft.heartbeatTick, -1, 'raft.heartbeatTick', 1, 1_000_000)
    if (raw.raft.preVote !== undefined) raft.preVote = bool(raw.raft.preVote, -1, 'raft.preVote')
    if (raw.raft.checkQuorum !== undefined) raft.checkQuorum = bool(raw.raft.checkQuorum, -1, 'raft.checkQuorum')
    if (raft.heartbeatTick >= raft.electionTick) throw new ScenarioError(-1, 'raft.heartbeatTick', 'must be less than electionTick')
  }
  const init = new Map<number, InitState>()
  if (raw.init !== undefined) {
    if (!isObj(raw.init)) throw new ScenarioError(-1, 'init', 'expected an object keyed by node id')
    for (const [k, v] of Object.entries(raw.init)) {
      const f = `init.${k}`
      const id = /^[0-9]+$/.test(k) ? node(Number(k), -1, f) : (() => { throw new ScenarioError(-1, f, 'keys are node ids') })()
      if (!isObj(v)) throw new ScenarioError(-1, f, 'expected an object')
      noExtra(v, ['term', 'vote', 'log', 'commit'], -1, f)
      const term = v.term === undefined ? 0 : int(v.term, -1, `${f}.term`, 0, Number.MAX_SAFE_INTEGER)
      const vote = v.vote === undefined ? 0 : int(v.vote, -1, `${f}.vote`, 0, nodes)
      const log: number[] = []
      if (v.log !== undefined) {
        if (!Array.isArray(v.log)) throw new ScenarioError(-1, `${f}.log`, 'expected an array of terms')
        if (v.log.length > SCENARIO_INIT_LOG_MAX) throw new ScenarioError(-1, `${f}.log`, `more than ${SCENARIO_INIT_LOG_MAX} entries`)
        let prevTerm = 0
        v.log.forEach((t, i) => {
          const lt = int(t, -1, `${f}.log[${i}]`, 1, Number.MAX_SAFE_INTEGER)
          if (lt < prevTerm) throw new ScenarioError(-1, `${f}.log[${i}]`, 'terms in a log never decrease')
          if (lt > term) throw new ScenarioError(-1, `${f}.log[${i}]`, `entry term ${lt} is above the node's term ${term}`)
          prevTerm = lt
          log.push(lt)
        })
      }
      const commit = v.commit === undefined ? 0 : int(v.commit, -1, `${f}.commit`, 0, log.length)
      init.set(id, { term, vote, log, commit })
    }
  }
  const network: NetworkSpec = { latencyMs: [1, 10], drop: 0, duplicate: 0, reorder: 0 }
  if (raw.network !== undefined) {
    if (!isObj(raw.network)) throw new ScenarioError(-1, 'network', 'expected an object')
    noExtra(raw.network, ['latencyMs', 'drop', 'duplicate', 'reorder'], -1, 'network')
    const l = raw.network.latencyMs
    if (l !== undefined) {
      if (!Array.isArray(l) || l.length !== 2) throw new ScenarioError(-1, 'network.latencyMs', 'expected [min, max]')
      const lo = int(l[0], -1, 'network.latencyMs[0]', 0, 1_000_000)
      const hi = int(l[1], -1, 'network.latencyMs[1]', lo, 1_000_000)
      network.latencyMs = [lo, hi]
    }
    if (raw.network.drop !== undefined) network.drop = num(raw.network.drop, -1, 'network.drop', 0, 1)
    if (raw.network.duplicate !== undefined) network.duplicate = num(raw.network.duplicate, -1, 'network.duplicate', 0, 1)
    if (raw.network.reorder !== undefined) network.reorder = num(raw.network.reorder, -1, 'network.reorder', 0, 1)
  }
  const tickMs = raw.tickMs === undefined ? 10 : int(raw.tickMs, -1, 'tickMs', 1, 1_000_000)
  if (!Array.isArray(raw.steps)) throw new ScenarioError(-1, 'steps', 'expected an array of steps')
  if (raw.steps.length > SCENARIO_STEPS_MAX) throw new ScenarioError(-1, 'steps', `more than ${SCENARIO_STEPS_MAX} steps`)
  const votes = new Map<string, Array<{ agent: string, node: number }>>()
  const labels: TaskLabels = { agents: new Set(), tasks: new Set(), messages: new Set() }
  const steps = raw.steps.map((s, i) => parseStep(s, i, nodes, node, votes, labels))
  steps.forEach((s, i) => {
    if (s.kind === 'run' && s.ms / tickMs > SCENARIO_RUN_TICKS_MAX) throw new ScenarioError(i, 'run', `${s.ms} ms is more than ${SCENARIO_RUN_TICKS_MAX} ticks of ${tickMs} ms`)
  })
  return { name, nodes, learners, seed, raft, init, network, tickMs, steps, timed: steps.some(s => s.kind === 'run') }
}

function parseStep (s: unknown, i: number, nodes: number, node: (v: unknown, step: number, field: string) => number, votes: Map<string, Array<{ agent: string, node: number }>>, labels: TaskLabels): Step {
  if (!isObj(s)) throw new ScenarioError(i, 'step', 'a step is an object with one verb')
  const verbs = Object.keys(s).filter(k => VERBS.has(k))
  if (verbs.length === 0) {
    const k = Object.keys(s)[0]
    throw new ScenarioError(i, k ?? 'step', k === undefined ? 'empty step' : `unknown verb "${k}"`)
  }
  if (verbs.length > 1) throw new ScenarioError(i, verbs[1] as string, `a step has one verb (found ${verbs.join(', ')})`)
  const verb = verbs[0] as string
  noExtra(s, [verb, ...(VERB_FIELDS[verb] ?? [])], i, '')
  const v = s[verb]
  switch (verb) {
    case 'campaign': return { kind: 'campaign', node: node(v, i, verb) }
    case 'propose': return { kind: 'propose', node: node(v, i, verb), data: str(s.data ?? '', i, 'data') }
    case 'tick': {
      const n = v === 'all' ? 'all' : node(v, i, verb)
      const times = s.times === undefined ? 1 : int(s.times, i, 'times', 0, SCENARIO_TICK_TIMES_MAX)
      return { kind: 'tick', node: n, times }
    }
    case 'heartbeat': return { kind: 'heartbeat', node: node(v, i, verb) }
    case 'readIndex': return { kind: 'readIndex', node: node(v, i, verb), ctx: str(s.ctx ?? '', i, 'ctx') }
    case 'transfer': {
      if (!isObj(v)) throw new ScenarioError(i, 'transfer', 'expected {"to": j, "via": i}')
      noExtra(v, ['to', 'via'], i, 'transfer')
      return { kind: 'transfer', to: node(v.to, i, 'transfer.to'), via: node(v.via, i, 'transfer.via') }
    }
    case 'addNode': return { kind: 'addNode', node: node(v, i, verb), learner: s.learner === undefined ? false : bool(s.learner, i, 'learner') }
    case 'removeNode': return { kind: 'removeNode', node: node(v, i, verb) }
    case 'compact': {
      const f = 'compact'
      // Accept both {"compact": i, "index": k} (the contract's shape) and {"compact": {"node": i, "index": k}}.
      if (isObj(v)) {
        noExtra(v, ['node', 'index'], i, f)
        return { kind: 'compact', node: node(v.node, i, 'compact.node'), index: int(v.index, i, 'compact.index', 0, Number.MAX_SAFE_INTEGER) }
      }
      return { kind: 'compact', node: node(v, i, f), index: int(s.index, i, 'index', 0, Number.MAX_SAFE_INTEGER) }
    }
    case 'isolate': return { kind: 'isolate', node: node(v, i, verb) }
    case 'cut': {
      if (!Array.isArray(v) || v.length !== 2) throw new ScenarioError(i, 'cut', 'expected [a, b]')
      const a = node(v[0], i, 'cut[0]')
      const b = node(v[1], i, 'cut[1]')
      if (a === b) throw new ScenarioError(i, 'cut', 'a node cannot be cut from itself')
      return { kind: 'cut', a, b }
    }
    case 'partition': {
      if (!Array.isArray(v) || v.length === 0) throw new ScenarioError(i, 'partition', 'expected groups of node ids [[1, 2], [3]]')
      const seen = new Set<number>()
      const groups = v.map((g, gi) => {
        if (!Array.isArray(g)) throw new ScenarioError(i, `partition[${gi}]`, 'expected an array of node ids')
        return g.map((id, k) => {
          const n = node(id, i, `partition[${gi}][${k}]`)
          if (seen.has(n)) throw new ScenarioError(i, `partition[${gi}][${k}]`, `node ${n} is in two groups`)
          seen.add(n)
          return n
        })
      })
      return { kind: 'partition', groups }
    }
    case 'drop': {
      if (!isObj(v)) throw new ScenarioError(i, 'drop', 'expected {"type": ...}')
      noExtra(v, ['type'], i, 'drop')
      const t = str(v.type, i, 'drop.type')
      if (!(MESSAGE_KINDS as readonly string[]).includes(t)) throw new ScenarioError(i, 'drop.type', `unknown message type "${t}" (one of ${MESSAGE_KINDS.join(', ')})`)
      return { kind: 'drop', type: t as MessageKind }
    }
    case 'recover':
      if (v !== true) throw new ScenarioError(i, 'recover', 'expected true')
      return { kind: 'recover' }
    case 'crash': return { kind: 'crash', node: node(v, i, verb) }
    case 'restart': return { kind: 'restart', node: node(v, i, verb) }
    case 'expect': return { kind: 'expect', expect: parseExpect(v, i, nodes, node, labels) }
    case 'run': return { kind: 'run', ms: int(v, i, 'run', 0, SCENARIO_RUN_MS_MAX) }
    case 'client': {
      if (!isObj(v)) throw new ScenarioError(i, 'client', 'expected {"node", "op", "key", ...}')
      const n = node(v.node, i, 'client.node')
      const op = str(v.op, i, 'client.op')
      const key = str(v.key, i, 'client.key')
      // Client keys are strong-variable names (the simulator runs the shipped strong variables).
      if (!STRONG_NAME_RE.test(key)) throw new ScenarioError(i, 'client.key', 'must be 1..128 characters of [A-Za-z0-9._:/-] (a strong-variable name)')
      if (op === 'read') { noExtra(v, ['node', 'op', 'key'], i, 'client'); return { kind: 'client', client: { node: n, op, key } } }
      if (op === 'write') {
        noExtra(v, ['node', 'op', 'key', 'value'], i, 'client')
        if (!('value' in v)) throw new ScenarioError(i, 'client.value', 'missing')
        return { kind: 'client', client: { node: n, op, key, value: value(v.value, i, 'client.value') } }
      }
      if (op === 'cas') {
        noExtra(v, ['node', 'op', 'key', 'value', 'expected'], i, 'client')
        if (!('value' in v)) throw new ScenarioError(i, 'client.value', 'missing')
        if (!('expected' in v)) throw new ScenarioError(i, 'client.expected', 'missing')
        return { kind: 'client', client: { node: n, op, key, expected: scalar(v.expected, i, 'client.expected'), value: value(v.value, i, 'client.value') } }
      }
      throw new ScenarioError(i, 'client.op', `unknown op "${op}" (read, write, cas)`)
    }
    case 'mint':
    case 'stake': {
      if (!isObj(v)) throw new ScenarioError(i, verb, 'expected {"account", "amount"}')
      noExtra(v, ['account', 'amount'], i, verb)
      return { kind: verb, account: str(v.account, i, `${verb}.account`), amount: num(v.amount, i, `${verb}.amount`, 0, Number.MAX_SAFE_INTEGER) }
    }
    case 'slash': {
      if (!isObj(v)) throw new ScenarioError(i, verb, 'expected {"account", "condition"}')
      noExtra(v, ['account', 'condition'], i, verb)
      const c = str(v.condition, i, 'slash.condition')
      if (!(SLASH_CONDITIONS as readonly string[]).includes(c)) throw new ScenarioError(i, 'slash.condition', `unknown condition "${c}"`)
      return { kind: 'slash', account: str(v.account, i, 'slash.account'), condition: c }
    }
    case 'agent': {
      if (!isObj(v)) throw new ScenarioError(i, 'agent', 'expected an object')
      noExtra(v, ['id', 'node', 'capabilities', 'valuation', 'bid', 'bundles', 'side', 'limit', 'quantity', 'reveal'], i, 'agent')
      if (v.reveal !== undefined && typeof v.reveal !== 'boolean') throw new ScenarioError(i, 'agent.reveal', 'expected true or false')
      str(v.id, i, 'agent.id')
      node(v.node, i, 'agent.node')
      if (v.capabilities !== undefined && (!Array.isArray(v.capabilities) || !v.capabilities.every(c => typeof c === 'string'))) throw new ScenarioError(i, 'agent.capabilities', 'expected an array of strings')
      for (const f of ['valuation', 'bid', 'limit', 'quantity'] as const) if (v[f] !== undefined) num(v[f], i, `agent.${f}`, 0, Number.MAX_SAFE_INTEGER)
      if (v.side !== undefined && v.side !== 'buy' && v.side !== 'sell') throw new ScenarioError(i, 'agent.side', 'expected "buy" or "sell"')
      if (v.bundles !== undefined) {
        if (!Array.isArray(v.bundles)) throw new ScenarioError(i, 'agent.bundles', 'expected an array')
        v.bundles.forEach((b, bi) => {
          if (!isObj(b) || !Array.isArray(b.items) || !b.items.every(x => typeof x === 'string')) throw new ScenarioError(i, `agent.bundles[${bi}]`, 'expected {"items": [...], "value": n}')
          num(b.value, i, `agent.bundles[${bi}].value`, 0, Number.MAX_SAFE_INTEGER)
        })
      }
      return { kind: 'agent', agent: v }
    }
    case 'auction': {
      if (!isObj(v)) throw new ScenarioError(i, 'auction', 'expected an object')
      noExtra(v, ['id', 'node', 'type', 'items', 'reserve', 'increment', 'startPrice', 'decrement', 'units', 'bidders', 'timeoutMs', 'durationMs', 'sealed', 'deposit', 'revealMs'], i, 'auction')
      str(v.id, i, 'auction.id')
      node(v.node, i, 'auction.node')
      const t = str(v.type, i, 'auction.type')
      if (!(AUCTION_TYPES as readonly string[]).includes(t)) throw new ScenarioError(i, 'auction.type', `unknown type "${t}" (one of ${AUCTION_TYPES.join(', ')})`)
      if (v.items !== undefined && (!Array.isArray(v.items) || !v.items.every(x => typeof x === 'string'))) throw new ScenarioError(i, 'auction.items', 'expected an array of strings')
      for (const f of ['reserve', 'increment', 'startPrice', 'decrement'] as const) if (v[f] !== undefined) num(v[f], i, `auction.${f}`, 0, Number.MAX_SAFE_INTEGER)
      if (v.units !== undefined) int(v.units, i, 'auction.units', 1, Number.MAX_SAFE_INTEGER)
      if (t === 'uniform' && v.units === undefined) throw new ScenarioError(i, 'auction.units', 'a uniform auction needs units (> 0)')
      if (v.bidders !== undefined && !isObj(v.bidders)) throw new ScenarioError(i, 'auction.bidders', 'expected an object')
      if (isObj(v.bidders)) {
        noExtra(v.bidders, ['capability'], i, 'auction.bidders')
        if (v.bidders.capability !== undefined) str(v.bidders.capability, i, 'auction.bidders.capability')
      }
      if (v.timeoutMs !== undefined) int(v.timeoutMs, i, 'auction.timeoutMs', 0, SCENARIO_RUN_MS_MAX)
      if (v.durationMs !== undefined) int(v.durationMs, i, 'auction.durationMs', 1, SCENARIO_RUN_MS_MAX)
      if (v.sealed !== undefined) {
        if (v.sealed !== 'open' && v.sealed !== 'commit') throw new ScenarioError(i, 'auction.sealed', 'expected "open" or "commit"')
        if (v.sealed === 'commit' && t !== 'first-price' && t !== 'vickrey') throw new ScenarioError(i, 'auction.sealed', `commit-reveal is for first-price and vickrey auctions, not ${t}`)
      }
      for (const f of ['deposit', 'revealMs'] as const) {
        if (v[f] === undefined) continue
        if (v.sealed !== 'commit') throw new ScenarioError(i, `auction.${f}`, 'needs "sealed": "commit"')
        int(v[f], i, `auction.${f}`, 0, SCENARIO_RUN_MS_MAX)
      }
      return { kind: 'auction', auction: v }
    }
  }
  if (COORD_VERBS.has(verb as StepKind)) return parseCoordStep(verb, v, i, node, votes)
  if (TASK_VERBS.has(verb as StepKind)) return parseTaskStep(verb, v, i, node, labels)
  throw new ScenarioError(i, verb, `unknown verb "${verb}"`)
}

/** A JSON value as the machine's JSON text (an election value). */
function jsonText (v: unknown, i: number, field: string): string {
  const text = JSON.stringify(v)
  if (text === undefined || Buffer.byteLength(text) > COORD_LIMITS.valueBytesMax) throw new ScenarioError(i, field, `expected a JSON value of at most ${COORD_LIMITS.valueBytesMax} bytes`)
  return text
}

function coordName (v: unknown, i: number, field: string): string {
  const s = str(v, i, field)
  if (!COORD_NAME_RE.test(s)) throw new ScenarioError(i, field, 'must be 1..128 characters of [A-Za-z0-9._:/-]')
  return s
}

function agentId (v: unknown, i: number, field: string): string {
  const s = str(v, i, field)
  if (s.length === 0 || s.length > COORD_LIMITS.idCharsMax) throw new ScenarioError(i, field, `expected 1..${COORD_LIMITS.idCharsMax} characters`)
  return s
}

/** Fields of each coordination verb. */
const COORD_FIELDS: Record<string, readonly string[]> = {
  lease: ['node', 'name', 'ttlMs', 'keepalive'],
  revoke: ['node', 'lease'],
  keepalive: ['node', 'auto'],
  lock: ['node', 'name', 'lease', 'wait', 'waitMs', 'permits'],
  unlock: ['node', 'name', 'lease'],
  elect: ['node', 'name', 'lease', 'value', 'waitMs'],
  resign: ['node', 'name', 'lease'],
  proclaim: ['node', 'name', 'lease', 'value'],
  barrier: ['node', 'name', 'parties', 'agent', 'lease', 'waitMs'],
  vote: ['node', 'id', 'options', 'voters', 'rule', 'deadlineMs', 'topic'],
  ballot: ['node', 'vote', 'agent', 'choice']
}

function parseCoordStep (verb: string, v: unknown, i: number, node: (v: unknown, step: number, field: string) => number, votes: Map<string, Array<{ agent: string, node: number }>>): CoordStep {
  if (!isObj(v)) throw new ScenarioError(i, verb, 'expected an object')
  const f = (k: string): string => `${verb}.${k}`
  noExtra(v, COORD_FIELDS[verb] as readonly string[], i, verb)
  const ms = (k: string): number | undefined => v[k] === undefined ? undefined : int(v[k], i, f(k), 1, COORD_LIMITS.waitMsMax)
  if (verb === 'ballot') {
    const vote = str(v.vote, i, f('vote'))
    const voters = votes.get(vote)
    if (voters === undefined) throw new ScenarioError(i, f('vote'), `no earlier vote step has id "${vote}"`)
    const agent = agentId(v.agent, i, f('agent'))
    const host = voters.find(x => x.agent === agent)?.node
    if (v.node === undefined && host === undefined) throw new ScenarioError(i, f('node'), `${agent} is not a voter of vote "${vote}": say which node casts the ballot`)
    return { kind: 'ballot', node: v.node === undefined ? host as number : node(v.node, i, f('node')), vote, agent, choice: str(v.choice, i, f('choice')) }
  }
  const n = node(v.node, i, f('node'))
  const lease = v.lease === undefined ? `n${n}` : coordName(v.lease, i, f('lease'))
  const name = (): string => coordName(v.name, i, f('name'))
  switch (verb) {
    case 'lease':
      return {
        kind: 'lease',
        node: n,
        name: v.name === undefined ? `n${n}` : name(),
        ttlMs: v.ttlMs === undefined ? COORD_TTL_MS_DEFAULT : int(v.ttlMs, i, f('ttlMs'), COORD_LIMITS.leaseTtlMsMin, COORD_LIMITS.leaseTtlMsMax),
        keepalive: v.keepalive === undefined ? true : bool(v.keepalive, i, f('keepalive'))
      }
    case 'revoke': return { kind: 'revoke', node: n, lease }
    case 'keepalive': return v.auto === undefined ? { kind: 'keepalive', node: n } : { kind: 'keepalive', node: n, auto: bool(v.auto, i, f('auto')) }
    case 'lock': {
      const out: CoordStep = { kind: 'lock', node: n, name: name(), lease, wait: v.wait === undefined ? true : bool(v.wait, i, f('wait')) }
      const w = ms('waitMs')
      if (w !== undefined) out.waitMs = w
      if (v.permits !== undefined) out.permits = int(v.permits, i, f('permits'), 1, COORD_LIMITS.permitsMax)
      return out
    }
    case 'unlock': case 'resign': return { kind: verb, node: n, name: name(), lease }
    case 'elect': {
      const out: CoordStep = { kind: 'elect', node: n, name: name(), lease, value: v.value === undefined ? JSON.stringify(`n${n}`) : jsonText(v.value, i, f('value')) }
      const w = ms('waitMs')
      if (w !== undefined) out.waitMs = w
      return out
    }
    case 'proclaim':
      if (v.value === undefined) throw new ScenarioError(i, f('value'), 'missing')
      return { kind: 'proclaim', node: n, name: name(), lease, value: jsonText(v.value, i, f('value')) }
    case 'barrier':
      return { kind: 'barrier', node: n, name: name(), parties: int(v.parties, i, f('parties'), 1, COORD_LIMITS.partiesMax), agent: agentId(v.agent, i, f('agent')), lease, waitMs: ms('waitMs') ?? COORD_WAIT_MS_DEFAULT }
    default: return parseVoteStep(v, n, i, node, votes)
  }
}

function parseVoteStep (v: Record<string, unknown>, n: number, i: number, node: (v: unknown, step: number, field: string) => number, votes: Map<string, Array<{ agent: string, node: number }>>): CoordStep {
  const id = str(v.id, i, 'vote.id')
  if (votes.has(id)) throw new ScenarioError(i, 'vote.id', `vote "${id}" is opened by an earlier step`)
  if (!Array.isArray(v.options) || v.options.length === 0 || v.options.length > COORD_LIMITS.optionsMax) throw new ScenarioError(i, 'vote.options', `expected 1..${COORD_LIMITS.optionsMax} options`)
  const options = v.options.map((o, k) => str(o, i, `vote.options[${k}]`))
  if (!Array.isArray(v.voters) || v.voters.length === 0 || v.voters.length > COORD_LIMITS.votersMax) throw new ScenarioError(i, 'vote.voters', `expected 1..${COORD_LIMITS.votersMax} voters {agent, node}`)
  const voters = v.voters.map((x, k) => {
    const p = `vote.voters[${k}]`
    if (!isObj(x)) throw new ScenarioError(i, p, 'expected {agent, node}')
    noExtra(x, ['agent', 'node'], i, p)
    return { agent: agentId(x.agent, i, `${p}.agent`), node: node(x.node, i, `${p}.node`) }
  })
  let rule: VoteRule
  if (v.rule === undefined || v.rule === 'majority') rule = { kind: 'majority' }
  else if (v.rule === 'unanimous' || v.rule === 'weighted') rule = { kind: v.rule }
  else if (isObj(v.rule)) {
    noExtra(v.rule, ['quorum'], i, 'vote.rule')
    rule = { kind: 'quorum', n: int(v.rule.quorum, i, 'vote.rule.quorum', 1, voters.length) }
  } else throw new ScenarioError(i, 'vote.rule', 'expected "majority", "unanimous", "weighted" or {"quorum": n}')
  votes.set(id, voters)
  const deadlineMs = v.deadlineMs === undefined ? COORD_WAIT_MS_DEFAULT : int(v.deadlineMs, i, 'vote.deadlineMs', 1, COORD_LIMITS.waitMsMax)
  const out: CoordStep = { kind: 'vote', node: n, id, options, voters, rule, deadlineMs }
  if (v.topic !== undefined) out.topic = str(v.topic, i, 'vote.topic')
  return out
}


const PER_NODE_FIELDS = ['role', 'term', 'vote', 'commit', 'applied', 'firstIndex', 'lastIndex', 'log', 'logTerms', 'readStates', 'voters', 'learners'] as const
const ROLES = ['follower', 'pre-candidate', 'candidate', 'leader', 'learner', 'crashed']

function parseExpect (v: unknown, i: number, nodes: number, node: (v: unknown, step: number, field: string) => number, labels: TaskLabels): Expectation {
  if (!isObj(v)) throw new ScenarioError(i, 'expect', 'expected an object of assertions')
  noExtra(v, ['leader', 'refusals', 'kv', 'violations', 'linearizable', 'auction', 'account', 'supply', 'task', 'message', ...COORD_EXPECT_FIELDS, ...PER_NODE_FIELDS], i, 'expect')
  const e: Expectation = {}
  if (v.leader !== undefined) e.leader = int(v.leader, i, 'expect.leader', 0, nodes)
  if (v.refusals !== undefined) e.refusals = int(v.refusals, i, 'expect.refusals', 0, Number.MAX_SAFE_INTEGER)
  if (v.violations !== undefined) e.violations = int(v.violations, i, 'expect.violations', 0, Number.MAX_SAFE_INTEGER)
  if (v.linearizable !== undefined) e.linearizable = bool(v.linearizable, i, 'expect.linearizable')
  if (v.kv !== undefined) {
    if (!isObj(v.kv)) throw new ScenarioError(i, 'expect.kv', 'expected an object key -> value')
    const kv = nullObject<string | number | null>()
    for (const [k, x] of Object.entries(v.kv)) kv[k] = scalar(x, i, `expect.kv.${k}`)
    e.kv = kv
  }
  parseEconomyExpect(v, e, i)
  parseCoordExpect(v, e, i, node)
  parseTaskExpect(v, e, i, labels)
  const check = (f: typeof PER_NODE_FIELDS[number], x: unknown, path: string): unknown => {
    switch (f) {
      case 'role': { const r = str(x, i, path); if (!ROLES.includes(r)) throw new ScenarioError(i, path, `unknown role "${r}"`); return r }
      case 'term': case 'commit': case 'applied': case 'firstIndex': case 'lastIndex': return int(x, i, path, 0, Number.MAX_SAFE_INTEGER)
      case 'vote': return int(x, i, path, 0, nodes)
      case 'log':
        if (!Array.isArray(x)) throw new ScenarioError(i, path, 'expected [[index, term, data], ...]')
        return x.map((en, k) => {
          if (!Array.isArray(en) || en.length !== 3) throw new ScenarioError(i, `${path}[${k}]`, 'expected [index, term, data]')
          return [int(en[0], i, `${path}[${k}][0]`, 1, Number.MAX_SAFE_INTEGER), int(en[1], i, `${path}[${k}][1]`, 0, Number.MAX_SAFE_INTEGER), str(en[2], i, `${path}[${k}][2]`)]
        })
      case 'logTerms':
        if (!Array.isArray(x)) throw new ScenarioError(i, path, 'expected an array of terms')
        return x.map((t, k) => int(t, i, `${path}[${k}]`, 0, Number.MAX_SAFE_INTEGER))
      case 'voters': case 'learners':
        if (!Array.isArray(x)) throw new ScenarioError(i, path, 'expected an array of node ids')
        return x.map((t, k) => node(t, i, `${path}[${k}]`))
      case 'readStates':
        if (!Array.isArray(x)) throw new ScenarioError(i, path, 'expected [{index, ctx}]')
        return x.map((r, k) => {
          if (!isObj(r)) throw new ScenarioError(i, `${path}[${k}]`, 'expected {index, ctx}')
          noExtra(r, ['index', 'ctx'], i, `${path}[${k}]`)
          return { index: int(r.index, i, `${path}[${k}].index`, 0, Number.MAX_SAFE_INTEGER), ctx: str(r.ctx, i, `${path}[${k}].ctx`) }
        })
    }
  }
  for (const f of PER_NODE_FIELDS) {
    const x = v[f]
    if (x === undefined) continue
    const isMap = isObj(x)
    let out: unknown
    if (isMap) {
      const m: Record<string, unknown> = {}
      for (const [k, y] of Object.entries(x as Record<string, unknown>)) {
        if (!/^[0-9]+$/.test(k)) throw new ScenarioError(i, `expect.${f}.${k}`, 'keys are node ids')
        node(Number(k), i, `expect.${f}.${k}`)
        m[k] = check(f, y, `expect.${f}.${k}`)
      }
      out = m
    } else {
      out = check(f, x, `expect.${f}`)
    }
    ;(e as Record<string, unknown>)[f] = out
  }
  return e
}

const nullableNum = (x: unknown, i: number, path: string): number | null => x === null ? null : num(x, i, path, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)

function parseEconomyExpect (v: Record<string, unknown>, e: Expectation, i: number): void {
  if (v.auction !== undefined) {
    if (!isObj(v.auction)) throw new ScenarioError(i, 'expect.auction', 'expected an object auction id -> fields')
    e.auction = nullObject()
    for (const [id, x] of Object.entries(v.auction)) {
      const p = `expect.auction.${id}`
      if (!isObj(x)) throw new ScenarioError(i, p, 'expected an object')
      noExtra(x, ['status', 'winner', 'price', 'winners', 'clearingPrice', 'quantity', 'welfare'], i, p)
      const a: AuctionExpect = {}
      if (x.status !== undefined) a.status = str(x.status, i, `${p}.status`)
      if (x.winner !== undefined) a.winner = x.winner === null ? null : str(x.winner, i, `${p}.winner`)
      if (x.price !== undefined) a.price = num(x.price, i, `${p}.price`, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
      if (x.clearingPrice !== undefined) a.clearingPrice = nullableNum(x.clearingPrice, i, `${p}.clearingPrice`)
      if (x.welfare !== undefined) a.welfare = nullableNum(x.welfare, i, `${p}.welfare`)
      if (x.quantity !== undefined) a.quantity = num(x.quantity, i, `${p}.quantity`, 0, Number.MAX_SAFE_INTEGER)
      if (x.winners !== undefined) {
        if (!Array.isArray(x.winners)) throw new ScenarioError(i, `${p}.winners`, 'expected an array')
        a.winners = x.winners.map((w, k) => {
          const wp = `${p}.winners[${k}]`
          if (typeof w === 'string') return w
          if (!isObj(w)) throw new ScenarioError(i, wp, 'expected an agent id or {agent, items, price}')
          noExtra(w, ['agent', 'items', 'price'], i, wp)
          const out: { agent: string, items?: string[], price?: number } = { agent: str(w.agent, i, `${wp}.agent`) }
          if (w.items !== undefined) {
            if (!Array.isArray(w.items)) throw new ScenarioError(i, `${wp}.items`, 'expected an array of items')
            out.items = w.items.map((it, n) => str(it, i, `${wp}.items[${n}]`))
          }
          if (w.price !== undefined) out.price = num(w.price, i, `${wp}.price`, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)
          return out
        })
      }
      e.auction[id] = a
    }
  }
  if (v.account !== undefined) {
    if (!isObj(v.account)) throw new ScenarioError(i, 'expect.account', 'expected an object account id -> fields')
    e.account = nullObject()
    for (const [id, x] of Object.entries(v.account)) {
      const p = `expect.account.${id}`
      if (x === null) { e.account[id] = null; continue }
      if (!isObj(x)) throw new ScenarioError(i, p, 'expected an object or null')
      noExtra(x, ['free', 'staked', 'escrow', 'reputation'], i, p)
      const a = nullObject<number>()
      for (const [k, y] of Object.entries(x)) a[k] = num(y, i, `${p}.${k}`, 0, Number.MAX_SAFE_INTEGER)
      e.account[id] = a
    }
  }
  if (v.supply !== undefined) {
    if (!isObj(v.supply)) throw new ScenarioError(i, 'expect.supply', 'expected {minted, total}')
    noExtra(v.supply, ['minted', 'total'], i, 'expect.supply')
    e.supply = {}
    if (v.supply.minted !== undefined) e.supply.minted = num(v.supply.minted, i, 'expect.supply.minted', 0, Number.MAX_SAFE_INTEGER)
    if (v.supply.total !== undefined) e.supply.total = num(v.supply.total, i, 'expect.supply.total', 0, Number.MAX_SAFE_INTEGER)
  }
}

const COORD_EXPECT_FIELDS = ['lock', 'election', 'barrier', 'votes', 'lease'] as const

function parseCoordExpect (v: Record<string, unknown>, e: Expectation, i: number, node: (v: unknown, step: number, field: string) => number): void {
  /** The entries of table `k` (name -> object of `allowed` fields), with their field paths. */
  const table = (k: typeof COORD_EXPECT_FIELDS[number], allowed: readonly string[]): Array<[string, Record<string, unknown>, string]> => {
    const t = v[k]
    if (t === undefined) return []
    if (!isObj(t)) throw new ScenarioError(i, `expect.${k}`, 'expected an object name -> fields')
    return Object.entries(t).map(([name, x]) => {
      const p = `expect.${k}.${name}`
      if (!isObj(x)) throw new ScenarioError(i, p, 'expected an object')
      noExtra(x, allowed, i, p)
      return [name, x, p]
    })
  }
  const nodes = (x: unknown, p: string): number[] => {
    if (!Array.isArray(x)) throw new ScenarioError(i, p, 'expected an array of node ids')
    return x.map((y, k) => node(y, i, `${p}[${k}]`))
  }
  const nodeOrNull = (x: unknown, p: string): number | null => x === null ? null : node(x, i, p)
  const oneOf = <T extends string>(x: unknown, p: string, allowed: readonly T[]): T => {
    if (typeof x !== 'string' || !(allowed as readonly string[]).includes(x)) throw new ScenarioError(i, p, `expected one of ${allowed.map(a => `"${a}"`).join(', ')}`)
    return x as T
  }
  for (const [name, x, p] of table('lock', ['holder', 'holders', 'token', 'waiters', 'granted'])) {
    const o: LockExpect = {}
    if (x.holder !== undefined) o.holder = nodeOrNull(x.holder, `${p}.holder`)
    if (x.holders !== undefined) o.holders = nodes(x.holders, `${p}.holders`)
    if (x.token !== undefined) o.token = int(x.token, i, `${p}.token`, 1, Number.MAX_SAFE_INTEGER)
    if (x.waiters !== undefined) o.waiters = nodes(x.waiters, `${p}.waiters`)
    if (x.granted !== undefined) o.granted = nodes(x.granted, `${p}.granted`)
    ;(e.lock ??= nullObject())[name] = o
  }
  for (const [name, x, p] of table('election', ['leader', 'value', 'candidates', 'elected'])) {
    const o: ElectionExpect = {}
    if (x.leader !== undefined) o.leader = nodeOrNull(x.leader, `${p}.leader`)
    if ('value' in x) o.value = x.value
    if (x.candidates !== undefined) o.candidates = nodes(x.candidates, `${p}.candidates`)
    if (x.elected !== undefined) o.elected = nodes(x.elected, `${p}.elected`)
    ;(e.election ??= nullObject())[name] = o
  }
  for (const [name, x, p] of table('barrier', ['generation', 'arrived', 'outcomes'])) {
    const o: BarrierExpect = {}
    if (x.generation !== undefined) o.generation = int(x.generation, i, `${p}.generation`, 1, Number.MAX_SAFE_INTEGER)
    if (x.arrived !== undefined) {
      if (!Array.isArray(x.arrived)) throw new ScenarioError(i, `${p}.arrived`, 'expected an array of agents')
      o.arrived = x.arrived.map((a, k) => str(a, i, `${p}.arrived[${k}]`))
    }
    if (x.outcomes !== undefined) {
      if (!Array.isArray(x.outcomes)) throw new ScenarioError(i, `${p}.outcomes`, 'expected an array of "released" | "broken"')
      o.outcomes = x.outcomes.map((a, k) => oneOf(a, `${p}.outcomes[${k}]`, ['released', 'broken'] as const))
    }
    ;(e.barrier ??= nullObject())[name] = o
  }
  for (const [name, x, p] of table('votes', ['status', 'outcome', 'reason'])) {
    const o: VoteExpect = {}
    if (x.status !== undefined) o.status = oneOf(x.status, `${p}.status`, ['open', 'decided', 'failed'] as const)
    if (x.outcome !== undefined) o.outcome = x.outcome === null ? null : str(x.outcome, i, `${p}.outcome`)
    if (x.reason !== undefined) o.reason = oneOf(x.reason, `${p}.reason`, ['threshold', 'unreachable', 'deadline'] as const)
    ;(e.votes ??= nullObject())[name] = o
  }
  if (v.lease !== undefined) {
    if (!isObj(v.lease)) throw new ScenarioError(i, 'expect.lease', 'expected an object lease name -> true | false')
    e.lease = nullObject()
    for (const [name, x] of Object.entries(v.lease)) e.lease[name] = bool(x, i, `expect.lease.${name}`)
  }
}

/** Whether an expectation reads the coordination machine. */
export function hasCoordExpect (e: Expectation): boolean {
  return e.lock !== undefined || e.election !== undefined || e.barrier !== undefined || e.votes !== undefined || e.lease !== undefined
}

/** Verbs of coordination (agent level: leases, locks, elections, barriers, votes). */
export const COORD_VERBS: ReadonlySet<StepKind> = new Set<StepKind>(['lease', 'revoke', 'keepalive', 'lock', 'unlock', 'elect', 'resign', 'proclaim', 'barrier', 'vote', 'ballot'])

/** Verbs of the economy (agent level). */

export const ECONOMY_VERBS: ReadonlySet<StepKind> = new Set<StepKind>(['mint', 'agent', 'auction', 'stake', 'slash'])

// ---------------------------------------------------------------- tasks and messages

/** Verbs of tasks and agents' messages. */
export const TASK_VERBS: ReadonlySet<StepKind> = new Set<StepKind>(['worker', 'task', 'message', 'cancel'])

/** Whether an expectation reads tasks or messages. */
export function hasTaskExpect (e: Expectation): boolean { return e.task !== undefined || e.message !== undefined }

/** Labels the steps so far defined: agents (`worker`), tasks (`task` ids), messages (`message` ids). */
interface TaskLabels { agents: Set<string>, tasks: Set<string>, messages: Set<string> }

export const WORK_MODES = ['complete', 'fail', 'hang', 'silent'] as const
/** Default work time of a worker (virtual ms) and default timeout of a message. */
export const TASK_WORK_MS_DEFAULT = 100
export const MESSAGE_TIMEOUT_MS_DEFAULT = 1000

const TASK_FIELDS: Record<string, readonly string[]> = {
  worker: ['agent', 'node', 'capabilities', 'does', 'workMs'],
  task: ['id', 'node', 'agent', 'capability', 'payload', 'retries', 'timeoutMs', 'ackMs', 'key'],
  message: ['id', 'from', 'to', 'timeoutMs'],
  cancel: ['task']
}

function parseTaskStep (verb: string, v: unknown, i: number, node: (v: unknown, step: number, field: string) => number, labels: TaskLabels): TaskStep {
  if (!isObj(v)) throw new ScenarioError(i, verb, 'expected an object')
  const f = (k: string): string => `${verb}.${k}`
  noExtra(v, TASK_FIELDS[verb] as readonly string[], i, verb)
  const id = (k: string): string => {
    const s = str(v[k], i, f(k))
    if (s.length === 0 || s.length > TASK_LIMITS.idCharsMax) throw new ScenarioError(i, f(k), `expected 1..${TASK_LIMITS.idCharsMax} characters`)
    return s
  }
  const agent = (k: string): string => {
    const a = id(k)
    if (!labels.agents.has(a)) throw new ScenarioError(i, f(k), `no earlier worker step defines agent "${a}"`)
    return a
  }
  const label = (set: Set<string>): string => {
    const l = str(v.id, i, f('id'))
    if (set.has(l)) throw new ScenarioError(i, f('id'), `"${l}" names an earlier ${verb} step`)
    set.add(l)
    return l
  }
  switch (verb) {
    case 'worker': {
      const a = id('agent')
      const out: TaskStep = { kind: 'worker', agent: a }
      if (!labels.agents.has(a) && v.node === undefined) throw new ScenarioError(i, f('node'), `missing (agent "${a}" is new)`)
      if (v.node !== undefined) out.node = node(v.node, i, f('node'))
      if (v.capabilities !== undefined) {
        if (!Array.isArray(v.capabilities)) throw new ScenarioError(i, f('capabilities'), 'expected an array of strings')
        out.capabilities = v.capabilities.map((c, k) => str(c, i, `${f('capabilities')}[${k}]`))
      }
      if (v.does !== undefined) {
        const d = str(v.does, i, f('does'))
        if (!(WORK_MODES as readonly string[]).includes(d)) throw new ScenarioError(i, f('does'), `expected one of ${WORK_MODES.join(', ')}`)
        out.does = d as typeof WORK_MODES[number]
      }
      if (v.workMs !== undefined) out.workMs = int(v.workMs, i, f('workMs'), 0, SCENARIO_RUN_MS_MAX)
      labels.agents.add(a)
      return out
    }
    case 'task': {
      const l = label(labels.tasks)
      if ((v.agent === undefined) === (v.capability === undefined)) throw new ScenarioError(i, f('agent'), 'a task targets one agent or one capability')
      const target = v.agent !== undefined ? { agent: agent('agent') } : { capability: str(v.capability, i, f('capability')) }
      const payload = JSON.stringify(v.payload ?? null)
      if (Buffer.byteLength(payload) > TASK_LIMITS.payloadBytesMax) throw new ScenarioError(i, f('payload'), `more than ${TASK_LIMITS.payloadBytesMax} bytes of JSON`)
      const out: TaskStep = { kind: 'task', id: l, node: node(v.node, i, f('node')), target, payload }
      if (v.retries !== undefined) out.retries = int(v.retries, i, f('retries'), 0, TASK_LIMITS.retriesMax)
      if (v.timeoutMs !== undefined) out.timeoutMs = int(v.timeoutMs, i, f('timeoutMs'), TASK_LIMITS.timeoutMsMin, TASK_LIMITS.timeoutMsMax)
      if (v.ackMs !== undefined) out.ackMs = int(v.ackMs, i, f('ackMs'), TASK_LIMITS.ackMsMin, TASK_LIMITS.ackMsMax)
      if (v.key !== undefined) {
        const k = str(v.key, i, f('key'))
        if (k.length === 0 || k.length > TASK_LIMITS.keyCharsMax) throw new ScenarioError(i, f('key'), `expected 1..${TASK_LIMITS.keyCharsMax} characters`)
        out.key = k
      }
      return out
    }
    case 'cancel': {
      const t = str(v.task, i, f('task'))
      if (!labels.tasks.has(t)) throw new ScenarioError(i, f('task'), `no earlier task step has id "${t}"`)
      return { kind: 'cancel', task: t }
    }
    default: {
      const l = label(labels.messages)
      return { kind: 'message', id: l, from: agent('from'), to: agent('to'), timeoutMs: v.timeoutMs === undefined ? MESSAGE_TIMEOUT_MS_DEFAULT : int(v.timeoutMs, i, f('timeoutMs'), 1, SCENARIO_RUN_MS_MAX) }
    }
  }
}

function parseTaskExpect (v: Record<string, unknown>, e: Expectation, i: number, labels: TaskLabels): void {
  for (const k of ['task', 'message'] as const) {
    const t = v[k]
    if (t === undefined) continue
    if (!isObj(t)) throw new ScenarioError(i, `expect.${k}`, `expected an object ${k} id -> fields`)
    const known = k === 'task' ? labels.tasks : labels.messages
    for (const [name, x] of Object.entries(t)) {
      const p = `expect.${k}.${name}`
      if (!known.has(name)) throw new ScenarioError(i, p, `no earlier ${k} step has id "${name}"`)
      if (!isObj(x)) throw new ScenarioError(i, p, 'expected an object')
      if (k === 'message') {
        noExtra(x, ['status', 'delivered'], i, p)
        const o: MessageExpect = {}
        if (x.status !== undefined) o.status = str(x.status, i, `${p}.status`)
        if (x.delivered !== undefined) o.delivered = int(x.delivered, i, `${p}.delivered`, 0, Number.MAX_SAFE_INTEGER)
        ;(e.message ??= nullObject())[name] = o
        continue
      }
      noExtra(x, ['state', 'agent', 'attempts', 'completedBy', 'ends', 'created', 'sameAs'], i, p)
      const o: TaskExpect = {}
      if (x.state !== undefined) o.state = str(x.state, i, `${p}.state`)
      if (x.agent !== undefined) o.agent = x.agent === null ? null : str(x.agent, i, `${p}.agent`)
      if (x.attempts !== undefined) o.attempts = int(x.attempts, i, `${p}.attempts`, 0, Number.MAX_SAFE_INTEGER)
      if (x.completedBy !== undefined) o.completedBy = x.completedBy === null ? null : int(x.completedBy, i, `${p}.completedBy`, 1, Number.MAX_SAFE_INTEGER)
      if (x.ends !== undefined) {
        if (!Array.isArray(x.ends)) throw new ScenarioError(i, `${p}.ends`, 'expected an array of attempt ends')
        o.ends = x.ends.map((y, n) => str(y, i, `${p}.ends[${n}]`))
      }
      if (x.created !== undefined) o.created = bool(x.created, i, `${p}.created`)
      if (x.sameAs !== undefined) {
        const other = str(x.sameAs, i, `${p}.sameAs`)
        if (!labels.tasks.has(other)) throw new ScenarioError(i, `${p}.sameAs`, `no earlier task step has id "${other}"`)
        o.sameAs = other
      }
      ;(e.task ??= nullObject())[name] = o
    }
  }
}
