import { describe, expect, it } from 'vitest'
import { ScenarioError } from '../../sim/errors.js'
import { parseScenario } from '../../sim/scenario.js'

function err (text: string): ScenarioError {
  try {
    parseScenario(text)
  } catch (e) {
    if (e instanceof ScenarioError) return e
    throw e
  }
  throw new Error('expected a ScenarioError')
}

describe('scenario parser (SCENARIOS.md contract)', () => {
  it('parses the contract example with its defaults', () => {
    const s = parseScenario(JSON.stringify({
      name: 'figure-8',
      nodes: 5,
      learners: [],
      seed: 1,
      raft: { electionTick: 10, heartbeatTick: 1, preVote: false, checkQuorum: false },
      init: { 3: { term: 2, vote: 0, log: [1, 2], commit: 0 } },
      steps: [{ campaign: 1 }, { propose: 1, data: 'x' }]
    }))
    expect(s.name).toBe('figure-8')
    expect(s.nodes).toBe(5)
    expect(s.init.get(3)).toEqual({ term: 2, vote: 0, log: [1, 2], commit: 0 })
    expect(s.steps).toEqual([{ kind: 'campaign', node: 1 }, { kind: 'propose', node: 1, data: 'x' }])
    expect(s.timed).toBe(false)
    const d = parseScenario('{"nodes": 3, "steps": []}')
    expect(d.raft).toEqual({ electionTick: 10, heartbeatTick: 1, preVote: false, checkQuorum: false })
    expect(d.seed).toBe(1)
  })

  it('parses every step-mode verb', () => {
    const s = parseScenario(`
nodes: 5
learners: [5]
steps:
  - campaign: 1
  - propose: 2
    data: y
  - tick: all
    times: 3
  - tick: 4
  - heartbeat: 1
  - readIndex: 1
    ctx: a
  - transfer: { to: 2, via: 1 }
  - addNode: 5
    learner: true
  - removeNode: 4
  - compact: 1
    index: 3
  - isolate: 3
  - cut: [1, 2]
  - partition: [[1, 2], [3, 4, 5]]
  - drop: { type: appendResp }
  - recover: true
  - crash: 2
  - restart: 2
  - expect: { leader: 1, term: { "1": 2 }, commit: 3, log: { "1": [[1, 1, ""]] }, readStates: { "1": [{ index: 1, ctx: a }] } }
`)
    expect(s.steps.map(x => x.kind)).toEqual(['campaign', 'propose', 'tick', 'tick', 'heartbeat', 'readIndex', 'transfer', 'addNode', 'removeNode', 'compact', 'isolate', 'cut', 'partition', 'drop', 'recover', 'crash', 'restart', 'expect'])
    expect(s.steps[2]).toEqual({ kind: 'tick', node: 'all', times: 3 })
    expect(s.steps[3]).toEqual({ kind: 'tick', node: 4, times: 1 })
    expect(s.learners).toEqual([5])
  })

  it('parses timed-mode verbs, including those of later issues', () => {
    const s = parseScenario(JSON.stringify({
      nodes: 3,
      network: { latencyMs: [2, 8], drop: 0.1, duplicate: 0.05 },
      steps: [
        { client: { node: 1, op: 'write', key: 'x', value: 3 } },
        { client: { node: 2, op: 'cas', key: 'x', expected: 3, value: 4 } },
        { client: { node: 3, op: 'read', key: 'x' } },
        { run: 500 },
        { mint: { account: 'a1', amount: 100 } },
        { agent: { id: 'a1', node: 1, capabilities: ['gpu'], valuation: 15, bid: 12, bundles: [{ items: ['A', 'B'], value: 10 }], side: 'buy', limit: 10, quantity: 1 } },
        { auction: { id: 'g1', node: 1, type: 'english', items: ['gpu'], reserve: 5, increment: 1, startPrice: 50, decrement: 5, bidders: { capability: 'gpu' } } },
        { stake: { account: 'a1', amount: 20 } },
        { slash: { account: 'a1', condition: 'task_failure' } }
      ]
    }))
    expect(s.timed).toBe(true)
    expect(s.network).toEqual({ latencyMs: [2, 8], drop: 0.1, duplicate: 0.05, reorder: 0 })
    expect(s.steps.map(x => x.kind)).toEqual(['client', 'client', 'client', 'run', 'mint', 'agent', 'auction', 'stake', 'slash'])
  })

  const bad: Array<[string, string, number, string]> = [
    ['unknown verb', '{"nodes": 3, "steps": [{"campaign": 1}, {"explode": 1}]}', 1, 'explode'],
    ['node id out of range', '{"nodes": 3, "steps": [{"campaign": 4}]}', 0, 'campaign'],
    ['node id zero', '{"nodes": 3, "steps": [{"tick": 1}, {"crash": 0}]}', 1, 'crash'],
    ['malformed times', '{"nodes": 3, "steps": [{"tick": 1, "times": "x"}]}', 0, 'times'],
    ['transfer target out of range', '{"nodes": 3, "steps": [{"transfer": {"to": 9, "via": 1}}]}', 0, 'transfer.to'],
    ['unknown drop type', '{"nodes": 3, "steps": [{"drop": {"type": "gossip"}}]}', 0, 'drop.type'],
    ['node in two partition groups', '{"nodes": 3, "steps": [{"partition": [[1, 2], [2, 3]]}]}', 0, 'partition[1][0]'],
    ['two verbs in a step', '{"nodes": 3, "steps": [{"campaign": 1, "isolate": 2}]}', 0, 'isolate'],
    ['extra field on a verb', '{"nodes": 3, "steps": [{"campaign": 1, "data": "x"}]}', 0, 'data'],
    ['expect with an unknown field', '{"nodes": 3, "steps": [{"expect": {"leaders": 1}}]}', 0, 'expect.leaders'],
    ['expect node key out of range', '{"nodes": 3, "steps": [{"expect": {"term": {"7": 1}}}]}', 0, 'expect.term.7'],
    ['client op unknown', '{"nodes": 3, "steps": [{"client": {"node": 1, "op": "delete", "key": "x"}}]}', 0, 'client.op'],
    ['write of null', '{"nodes": 3, "steps": [{"client": {"node": 1, "op": "write", "key": "x", "value": null}}]}', 0, 'client.value'],
    ['cas without expected', '{"nodes": 3, "steps": [{"client": {"node": 1, "op": "cas", "key": "x", "value": 1}}]}', 0, 'client.expected'],
    ['client key not a strong-variable name', '{"nodes": 3, "steps": [{"client": {"node": 1, "op": "read", "key": "a b"}}]}', 0, 'client.key'],
    ['auction type unknown', '{"nodes": 3, "steps": [{"auction": {"id": "g", "node": 1, "type": "silent"}}]}', 0, 'auction.type'],
    ['run too long for the tick interval', '{"nodes": 3, "tickMs": 1, "steps": [{"run": 5000000}]}', 0, 'run'],
    ['negative run', '{"nodes": 3, "steps": [{"run": -5}]}', 0, 'run'],
    ['recover not true', '{"nodes": 3, "steps": [{"recover": 1}]}', 0, 'recover'],
    ['auction timeoutMs negative', '{"nodes": 3, "steps": [{"auction": {"id": "g", "node": 1, "type": "vickrey", "timeoutMs": -1}}]}', 0, 'auction.timeoutMs'],
    ['auction sealed unknown', '{"nodes": 3, "steps": [{"auction": {"id": "g", "node": 1, "type": "vickrey", "sealed": "hidden"}}]}', 0, 'auction.sealed'],
    ['auction commit-reveal on an english auction', '{"nodes": 3, "steps": [{"auction": {"id": "g", "node": 1, "type": "english", "sealed": "commit"}}]}', 0, 'auction.sealed'],
    ['uniform auction without units', '{"nodes": 3, "steps": [{"auction": {"id": "g", "node": 1, "type": "uniform", "items": ["gpu"]}}]}', 0, 'auction.units'],
    ['auction units not a positive integer', '{"nodes": 3, "steps": [{"auction": {"id": "g", "node": 1, "type": "uniform", "units": 0}}]}', 0, 'auction.units'],
    ['auction deposit without commit-reveal', '{"nodes": 3, "steps": [{"auction": {"id": "g", "node": 1, "type": "vickrey", "deposit": 5}}]}', 0, 'auction.deposit'],
    ['auction revealMs not an integer', '{"nodes": 3, "steps": [{"auction": {"id": "g", "node": 1, "type": "vickrey", "sealed": "commit", "revealMs": 1.5}}]}', 0, 'auction.revealMs'],
    ['agent reveal not a boolean', '{"nodes": 3, "steps": [{"agent": {"id": "a", "node": 1, "reveal": "no"}}]}', 0, 'agent.reveal'],
    ['auction bidders with an unknown field', '{"nodes": 3, "steps": [{"auction": {"id": "g", "node": 1, "type": "vickrey", "bidders": {"role": "x"}}}]}', 0, 'auction.bidders.role'],
    ['expect auction with an unknown field', '{"nodes": 3, "steps": [{"expect": {"auction": {"g": {"loser": "a"}}}}]}', 0, 'expect.auction.g.loser'],
    ['expect auction winners malformed', '{"nodes": 3, "steps": [{"expect": {"auction": {"g": {"winners": [3]}}}}]}', 0, 'expect.auction.g.winners[0]'],
    ['expect account field not a number', '{"nodes": 3, "steps": [{"expect": {"account": {"a1": {"free": "lots"}}}}]}', 0, 'expect.account.a1.free'],
    ['expect supply with an unknown field', '{"nodes": 3, "steps": [{"expect": {"supply": {"burned": 1}}}]}', 0, 'expect.supply.burned']
  ]
  for (const [what, text, step, field] of bad) {
    it(`rejects ${what}, naming step ${step} and field ${field}`, () => {
      const e = err(text)
      expect(e.code).toBe('ERR_SCENARIO')
      expect(e.details.step).toBe(step)
      expect(e.details.field).toBe(field)
    })
  }

  it('rejects malformed top-level fields', () => {
    expect(err('{"steps": []}').details.field).toBe('nodes')
    expect(err('{"nodes": 3}').details.field).toBe('steps')
    expect(err('{"nodes": 3, "steps": [], "raft": {"electionTick": "ten"}}').details.field).toBe('raft.electionTick')
    expect(err('{"nodes": 3, "steps": [], "init": {"2": {"term": 1, "log": [1, 2]}}}').details.field).toBe('init.2.log[1]')
    expect(err('{"nodes": 3, "steps": [], "learners": [4]}').details.field).toBe('learners[0]')
    expect(err('{"nodes": 3, "steps": [], "network": {"latencyMs": [5, 1]}}').details.field).toBe('network.latencyMs[1]')
    expect(err('{"nodes": 3, "steps": [], "colour": "red"}').details.field).toBe('colour')
    expect(err('nodes: [').details.field).toBe('file')
    expect(err('"just a string"').details.field).toBe('file')
  })
})
