/**
 * In-process components for the orchestration unit tests: a strong-variable store with the same
 * compare-and-set semantics as the Raft map (canonical JSON equality, `variable:changed` events), a
 * singleton that hands the duty to the next candidate in line when the owner's signal aborts, and a
 * team of agent views. The handle's own code runs unchanged on them.
 */
import { createLogger } from '../../src/base/log.js'
import { TypedEmitter } from '../../src/base/events.js'
import type { AgentView, QueryCriteria } from '../../crdt/types.js'
import { canonicalJson } from '../../peers/orchestration/constraints.js'
import type { InstructionPayload, OrchestrationComponents, StrongLike, TaskOutcome } from '../../peers/orchestration/variable.js'

export class MemoryStrong extends TypedEmitter<{ 'variable:changed': { name: string } }> {
  readonly data = new Map<string, string>()
  /** The newest token granted per lock (the coordination machine's): fenced writes under older ones are refused. */
  readonly tokens = new Map<string, number>()
  writes = 0
  fencedWrites = 0
  /** Grants lock `name` (a newer token). */
  grant (name: string): number {
    const token = (this.tokens.get(name) ?? 0) + 1
    this.tokens.set(name, token)
    return token
  }

  variable (key: string): StrongLike {
    return {
      get: async () => { const t = this.data.get(key); return t === undefined ? null : JSON.parse(t) },
      compareAndSet: async (expected, value, options = {}) => {
        const f = options.fence
        if (f !== undefined && (this.tokens.get(f.lock) ?? 0) > f.token) throw Object.assign(new Error(`lock ${f.lock} has a newer token`), { code: 'ERR_FENCED' })
        if (f !== undefined) this.fencedWrites++
        const cur = this.data.get(key) ?? 'null'
        if (cur !== canonicalJson(expected)) return false
        this.data.set(key, canonicalJson(value)!)
        this.writes++
        this.emit('variable:changed', { name: key })
        return true
      },
      on: (type, fn) => this.on(type, fn)
    }
  }
}

interface Candidate { fn: (signal: AbortSignal) => Promise<void>, ctl: AbortController, running: boolean }

/** One singleton name: candidates in line, the first runs until its signal aborts. */
export class MemorySingleton {
  readonly line: Candidate[] = []
  owner (): Candidate | undefined { return this.line.find(c => c.running) }
  private next (): void {
    const c = this.line[0]
    if (c === undefined || c.running) return
    c.running = true
    void c.fn(c.ctl.signal).finally(() => { c.running = false })
  }

  run (fn: (signal: AbortSignal) => Promise<void>): { stop: () => Promise<void>, readonly running: boolean } {
    const c: Candidate = { fn, ctl: new AbortController(), running: false }
    this.line.push(c)
    this.next()
    return { stop: async () => { this.drop(c) }, get running () { return c.running } }
  }

  /** The owner loses its duty (as a crash or a lost lease would): the next candidate takes over. */
  crashOwner (): void {
    const c = this.line[0]
    if (c !== undefined) this.drop(c)
  }

  private drop (c: Candidate): void {
    const i = this.line.indexOf(c)
    if (i < 0) return
    this.line.splice(i, 1)
    c.ctl.abort()
    this.next()
  }
}

export function agent (id: string, capabilities: string[] = ['worker']): AgentView {
  return { id, host: 'h', capabilities, status: 'reachable', freshness: { asOf: 0, hostSilentMs: 0 }, contested: false } as unknown as AgentView
}

export interface Bench {
  strong: MemoryStrong
  singleton: MemorySingleton
  team: AgentView[]
  teamEvents: TypedEmitter<{ change: undefined }>
  outcomes: TypedEmitter<{ outcome: TaskOutcome }>
  delivered: Array<{ peer: string, agent: string, payload: InstructionPayload }>
  /** Agents whose deliveries fail with this code. */
  failing: Map<string, string>
  components: (self: string) => OrchestrationComponents
}

export function bench (): Bench {
  const b: Bench = {
    strong: new MemoryStrong(),
    singleton: new MemorySingleton(),
    team: [],
    teamEvents: new TypedEmitter(),
    outcomes: new TypedEmitter(),
    delivered: [],
    failing: new Map(),
    components: (self) => ({
      self,
      log: createLogger('silent', 'orchestration-test'),
      strong: (key) => b.strong.variable(key),
      runSingleton: (_name, fn) => b.singleton.run(fn),
      lock: async (name) => ({ fence: { lock: name, token: b.strong.grant(name) }, signal: new AbortController().signal, release: async () => {} }),
      owner: async () => b.singleton.owner() === undefined ? undefined : 'owner',
      query: (q: QueryCriteria) => {
        const cap = typeof q.capability === 'string' ? q.capability : undefined
        const agents = b.team.filter(a => cap === undefined || a.capabilities.includes(cap))
        return { agents: agents.slice(0, q.limit ?? agents.length), truncated: agents.length > (q.limit ?? agents.length) }
      },
      onTeamChange: (fn) => b.teamEvents.on('change', () => { fn() }),
      deliver: async (agentId, payload) => {
        const code = b.failing.get(agentId)
        if (code !== undefined) throw Object.assign(new Error(`delivery to ${agentId} failed`), { code })
        b.delivered.push({ peer: self, agent: agentId, payload })
        return { applied: true }
      },
      taskOutcomes: (fn) => b.outcomes.on('outcome', fn),
      taskLatency: async (task) => 10 + task
    })
  }
  return b
}
