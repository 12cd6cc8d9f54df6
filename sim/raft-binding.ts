/**
 * The binding of the simulator to protocols/raft: storage (a {@link SimDisk} over MemoryStorage), nodes
 * (RaftNode), and the KV state machine. The only simulator file (with disk.ts) that knows the core.
 */
import { decodeConfChange, MemoryStorage, ProposalDroppedError, RaftNode } from '../protocols/raft/index.js'
import { encodeKvCommand, KvStateMachine } from '../protocols/raft/kv.js'
import type { KvOp } from '../protocols/raft/kv.js'
import type { Entry, Message, Ready, Role } from '../protocols/raft/index.js'
import { setConfDescriber, SimDisk, toSimEntry } from './disk.js'
import type { ConfChangeKind, KvCommand, KvScalar, Refusal, SimKv, SimKvFactory, SimMessage, SimRaftConfig, SimRaftFactory, SimRaftNode, SimReady, SimRole, SimStatus, SimStorage } from './raft-adapter.js'

const enc = new TextEncoder()
const dec = new TextDecoder()
const EMPTY = new Uint8Array(0)

setConfDescriber(data => {
  const cc = decodeConfChange(data)
  return `${cc.type}:${cc.nodeId}`
})

const ROLES: Record<Role, SimRole> = { follower: 'follower', preCandidate: 'pre-candidate', candidate: 'candidate', leader: 'leader' }

function describe (m: Message): string {
  return `${m.from}>${m.to} ${m.type} t${m.term} i${m.index} lt${m.logTerm} c${m.commit}${m.entries.length > 0 ? ` e${m.entries.length}@${m.entries[0]?.index ?? 0}` : ''}${m.reject ? ` rej${m.rejectHint}` : ''}${m.snapshot !== undefined ? ` snap${m.snapshot.metadata.index}` : ''}`
}

function toSimMessage (m: Message): SimMessage {
  return { from: m.from, to: m.to, kind: m.type, term: m.term, describe: describe(m), raw: m }
}

/** Run a core call; a ProposalDroppedError is a refusal, anything else propagates (a node panic). */
function refusing (fn: () => void): Refusal {
  try {
    fn()
    return undefined
  } catch (err) {
    if (err instanceof ProposalDroppedError) return err.reason
    throw err
  }
}

class BoundNode implements SimRaftNode {
  private readonly node: RaftNode
  private readonly id: number
  private readonly heartbeatTick: number
  private last: Ready | undefined

  constructor (cfg: SimRaftConfig, disk: SimDisk) {
    this.id = cfg.id
    this.heartbeatTick = cfg.heartbeatTick
    this.node = new RaftNode({
      id: cfg.id,
      storage: disk.storage,
      rand: cfg.rand,
      electionTick: cfg.electionTick,
      heartbeatTick: cfg.heartbeatTick,
      preVote: cfg.preVote,
      checkQuorum: cfg.checkQuorum,
      applied: cfg.applied
    })
  }

  private isLearner (id: number): boolean {
    return this.node.confState().learners.includes(id)
  }

  tick (): void { this.node.tick() }
  step (m: SimMessage): void { this.node.step(m.raw as Message) }

  campaign (): Refusal {
    if (this.isLearner(this.id)) return 'learner cannot campaign'
    return refusing(() => this.node.campaign())
  }

  propose (data: Uint8Array): Refusal { return this.node.tryPropose(data) ?? undefined }
  readIndex (ctx: string): Refusal { return refusing(() => this.node.readIndex(enc.encode(ctx))) }

  transferLeader (to: number): Refusal {
    if (this.isLearner(to)) return `cannot transfer to learner ${to}`
    return refusing(() => this.node.transferLeader(to))
  }

  proposeConfChange (kind: ConfChangeKind, target: number): Refusal {
    const cs = this.node.confState()
    let type: 'addVoter' | 'removeVoter' | 'addLearner' | 'promoteLearner'
    if (kind === 'addVoter') type = cs.learners.includes(target) ? 'promoteLearner' : 'addVoter'
    else if (kind === 'addLearner') type = 'addLearner'
    else type = 'removeVoter'
    return refusing(() => this.node.proposeConfChange({ type, nodeId: target }))
  }

  heartbeat (): Refusal { return refusing(() => this.node.heartbeat()) }

  confState (): { voters: number[], learners: number[] } { return this.node.confState() }
  hasReady (): boolean { return this.node.hasReady() }

  ready (): SimReady {
    const rd = this.node.ready()
    this.last = rd
    const out: SimReady = {
      entries: rd.entries.map(toSimEntry),
      messages: rd.messages.map(toSimMessage),
      committed: rd.committedEntries.map(toSimEntry),
      readStates: rd.readStates.map(r => ({ index: r.index, ctx: dec.decode(r.context) }))
    }
    if (rd.softState !== undefined) out.soft = { role: ROLES[rd.softState.role], leader: rd.softState.lead }
    if (rd.hardState !== undefined) out.hardState = { term: rd.hardState.term, vote: rd.hardState.vote, commit: rd.hardState.commit }
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
      const s = rd.snapshot
      out.snapshot = { meta: { index: s.metadata.index, term: s.metadata.term, voters: s.metadata.confState.voters.slice(), learners: s.metadata.confState.learners.slice() }, data: s.data, raw: s }
    }
    return out
  }

  advance (): void {
    const rd = this.last
    if (rd === undefined) throw new Error('advance without ready')
    this.last = undefined
    this.node.advance(rd)
  }

  status (): SimStatus {
    const s = this.node.status()
    return { role: ROLES[s.role], term: s.term, vote: s.vote, leader: s.lead, commit: s.commit, voters: s.confState.voters, learners: s.confState.learners }
  }
}

/**
 * protocols/raft's KvStateMachine (sessions, exactly-once) behind the simulator's SimKv. Its values are
 * strings: scenario values (strings and numbers) travel JSON-encoded, so `3` and `"3"` stay distinct.
 */
class BoundKv implements SimKv {
  private readonly sm = new KvStateMachine()

  encode (clientId: number, seq: number, cmd: KvCommand, attempt = 0): Uint8Array {
    let op: KvOp & { a?: number }
    if (cmd.op === 'read') op = { op: 'read', key: cmd.key }
    else if (cmd.op === 'write') op = { op: 'write', key: cmd.key, value: JSON.stringify(cmd.value) }
    else op = { op: 'cas', key: cmd.key, expected: cmd.expected === null ? null : JSON.stringify(cmd.expected), value: JSON.stringify(cmd.value) }
    op.a = attempt // extra payload field: the state machine ignores it
    return encodeKvCommand({ clientId: `c${clientId}`, seq, payload: op })
  }

  apply (index: number, data: Uint8Array): { clientId: number, seq: number, value?: KvScalar, ok?: boolean, attempt?: number } | undefined {
    // Scenario proposals ("x") are not command envelopes (JSON objects): only advance the index, without
    // paying for a decode failure.
    const r = this.sm.apply({ index, term: 0, type: 'normal', data: data[0] === 0x7b ? data : EMPTY })
    if (r === undefined || r.clientId === undefined || r.seq === undefined || r.result.status !== 'ok') return undefined
    if (!r.clientId.startsWith('c')) return undefined
    const v = r.result.value
    let attempt: number | undefined
    if (!r.duplicate) {
      const env = JSON.parse(dec.decode(data)) as { p?: { a?: unknown } }
      if (typeof env.p?.a === 'number') attempt = env.p.a
    }
    return { clientId: Number(r.clientId.slice(1)), seq: r.seq, value: v.value === null ? null : JSON.parse(v.value) as KvScalar, ok: v.ok, attempt }
  }

  read (key: string): KvScalar {
    const v = this.sm.get(key)
    return v === null ? null : JSON.parse(v) as KvScalar
  }

  snapshot (): Uint8Array { return this.sm.snapshot() }
  restore (bytes: Uint8Array): void { this.sm.restore(bytes) }
}

/** The default factory: protocols/raft's RaftNode, MemoryStorage and KvStateMachine. */
export const defaultFactory: SimRaftFactory & SimKvFactory = {
  createStorage (init): SimStorage {
    const ms = new MemoryStorage({ voters: init.voters.slice(), learners: init.learners.slice() })
    if (init.logTerms.length > 0) {
      const ents: Entry[] = init.logTerms.map((term, i) => ({ index: i + 1, term, type: 'normal', data: EMPTY }))
      ms.append(ents)
    }
    ms.setHardState({ term: init.term, vote: init.vote, commit: init.commit })
    return new SimDisk(ms)
  },
  createNode (cfg, storage): SimRaftNode {
    if (!(storage instanceof SimDisk)) throw new TypeError('the protocols/raft binding needs a SimDisk')
    return new BoundNode(cfg, storage)
  },
  createKv: () => new BoundKv()
}
