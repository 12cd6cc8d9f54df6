/**
 * Randomized safety + liveness test: random message loss, duplication, reordering, partitions,
 * crashes/restarts, compaction and leadership transfers, with Raft's safety properties checked after
 * every step (election safety, committed-entry agreement = log matching + state-machine safety), then a
 * healed liveness phase. Seeds 1..60: AGORA_TEST_SEED=<n> to replay one; RAFT_SEEDS=<k> to run more.
 */
import { describe, expect, it } from 'vitest'
import { createRand } from '../../src/base/prng.js'
import type { Rand } from '../../src/base/prng.js'
import { MemoryStorage } from '../../protocols/raft/storage.js'
import { ProposalDroppedError } from '../../protocols/raft/errors.js'
import type { Message } from '../../protocols/raft/types.js'
import { bytes, Net, str } from './network.js'
import { seedMessage, testSeeds } from '../helpers/seed.js'

const N = 5
const STEPS = 400

function runSeed (seed: number): void {
  const rand: Rand = createRand(seed)
  const opts = { preVote: rand.chance(0.5), checkQuorum: rand.chance(0.5), electionTick: 10, maxSizePerMsg: 64, maxInflightMsgs: 8 }
  const ids = Array.from({ length: N }, (_, i) => i + 1)
  const net = new Net(ids, opts, [], seed)
  const JOINER = N + 1
  net.add(JOINER) // starts with no configuration; may be added as learner / voter
  const all = [...ids, JOINER]
  const leaderOfTerm = new Map<number, number>()
  const committedAt = new Map<number, string>() // index -> term:data
  const seen = new Map<number, number>() // peer -> count of committed entries checked
  let next = 0
  let inflight: Message[] = []

  const check = (): void => {
    for (const p of net.peers.values()) {
      p.node.checkInvariants()
      const s = p.node.status()
      if (s.role === 'leader') {
        const prev = leaderOfTerm.get(s.term)
        if (prev !== undefined && prev !== p.id) throw new Error(`election safety: term ${s.term} has leaders ${prev} and ${p.id}`)
        leaderOfTerm.set(s.term, p.id)
      }
      const from = seen.get(p.id) ?? 0
      for (let k = from; k < p.committed.length; k++) {
        const e = p.committed[k]!
        const v = `${e.term}:${e.type}:${str(e.data)}`
        const prev = committedAt.get(e.index)
        if (prev !== undefined && prev !== v) throw new Error(`state machine safety: index ${e.index} committed as ${prev} and ${v} (node ${p.id})`)
        committedAt.set(e.index, v)
      }
      seen.set(p.id, p.committed.length)
    }
  }

  const processAll = (): void => {
    for (const p of net.peers.values()) net.processReady(p)
    inflight.push(...net.queue)
    net.queue = []
  }

  const deliver = (faults: boolean): void => {
    const batch = inflight
    inflight = []
    if (faults && rand.chance(0.3)) { // reorder
      for (let i = batch.length - 1; i > 0; i--) {
        const j = rand.int(i + 1)
        const t = batch[i]!; batch[i] = batch[j]!; batch[j] = t
      }
    }
    for (const m of batch) {
      if (net.cutLinks.has(`${m.from}-${m.to}`)) continue
      if (faults && rand.chance(0.05)) continue // drop
      if (faults && rand.chance(0.05)) inflight.push(m) // delay to the next round
      else net.node(m.to).step(m)
      if (faults && rand.chance(0.02)) net.node(m.to).step(m) // duplicate
    }
  }

  const restart = (id: number): void => {
    const old = net.peer(id)
    const st: MemoryStorage = old.storage
    const p = net.add(id, undefined, st)
    seen.set(id, 0)
    const snap = st.snapshot()
    if (snap.metadata.index > 0) {
      p.applied = JSON.parse(str(snap.data)) as string[]
      p.appliedIndex = snap.metadata.index
    }
    inflight = inflight.filter(m => m.to !== id)
  }

  const proposeSomewhere = (): void => {
    const id = rand.pick(ids)
    try {
      net.node(id).propose(bytes(`v${next++}`))
    } catch (err) {
      if (!(err instanceof ProposalDroppedError)) throw err
    }
  }

  // Safety phase under faults.
  for (let step = 0; step < STEPS; step++) {
    const r = rand.next()
    if (r < 0.03) {
      net.recover()
      const k = 1 + rand.int(2)
      for (let i = 0; i < k; i++) net.isolate(rand.pick(all))
    } else if (r < 0.06) {
      net.recover()
    } else if (r < 0.08) {
      restart(rand.pick(all))
    } else if (r < 0.10) {
      const p = net.peer(rand.pick(all))
      if (p.appliedIndex > p.storage.firstIndex() + 2) {
        p.storage.createSnapshot(p.appliedIndex, p.node.confState(), bytes(JSON.stringify(p.applied)))
        p.storage.compact(p.appliedIndex)
      }
    } else if (r < 0.11) {
      const leader = net.leaders()[0]
      if (leader !== undefined) net.node(leader).transferLeader(rand.pick(ids.filter(i => i !== leader)))
    } else if (r < 0.13) {
      // one membership change: add / promote / remove, through the leader
      const leader = net.leaders()[0]
      if (leader !== undefined) {
        const n = net.node(leader)
        const cs = n.confState()
        const target = rand.pick(all)
        try {
          if (cs.learners.includes(target)) n.promoteLearner(target)
          else if (cs.voters.includes(target)) { if (cs.voters.length > 3) n.removeVoter(target) } else n.addLearner(target)
        } catch (err) {
          if (!(err instanceof ProposalDroppedError)) throw err
        }
      }
    } else if (r < 0.4) {
      proposeSomewhere()
    }
    for (const p of net.peers.values()) p.node.tick()
    processAll()
    deliver(true)
    processAll()
    check()
  }

  // Liveness phase: heal, then a new value must be applied everywhere within a bound.
  net.recover()
  inflight = []
  let done = false
  const marker = `final-${seed}`
  let proposed = false
  for (let round = 0; round < 400 && !done; round++) {
    for (const p of net.peers.values()) p.node.tick()
    processAll()
    for (let k = 0; k < 20 && inflight.length > 0; k++) { deliver(false); processAll() }
    check()
    const leader = net.leaders()[0]
    // A proposal can be lost with its leader (its fate is indefinite): retry like a client would.
    if (leader !== undefined && (!proposed || round % 50 === 49)) {
      try { net.node(leader).propose(bytes(marker)); proposed = true } catch (err) { if (!(err instanceof ProposalDroppedError)) throw err }
    }
    const members = leader === undefined ? [] : [...net.node(leader).confState().voters, ...net.node(leader).confState().learners]
    done = proposed && members.length > 0 && members.every(id => net.peer(id).applied.includes(marker))
  }
  if (!done && process.env.RAFT_DEBUG !== undefined) for (const p of net.peers.values()) console.log(JSON.stringify({ ...p.node.status(), applied: p.applied.length, appliedIndex: p.appliedIndex, inflight: inflight.length }))
  if (!done) throw new Error('liveness: the healed cluster did not apply a new value within 400 ticks')
  const leader = net.leaders()[0]!
  if (process.env.RAFT_DEBUG !== undefined) console.log("CONF", seed, JSON.stringify(net.node(leader).confState()))
  const ref = net.peer(leader).applied
  const cs = net.node(leader).confState()
  for (const id of [...cs.voters, ...cs.learners]) expect(net.peer(id).applied).toEqual(ref)
}

describe('randomized safety and liveness', () => {
  it('holds for every seed', () => {
    for (const seed of testSeeds(Number(process.env.RAFT_SEEDS ?? 60))) {
      try {
        runSeed(seed)
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err)
        throw new Error(`${seedMessage(seed)}\n${msg}`, { cause: err })
      }
    }
  })
})
