import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { main } from '../../src/cli.js'
import type { CliIo } from '../../src/cli.js'
import { replayCommand } from '../../sim/cli.js'
import { FAULT_KINDS } from '../../sim/fuzz.js'

function io (): CliIo & { out: string, err: string } {
  const o = {
    out: '',
    err: '',
    stdout: (t: string) => { o.out += t },
    stderr: (t: string) => { o.err += t },
    readFile: (p: string) => readFileSync(p, 'utf8')
  }
  return o
}

const dir = mkdtempSync(join(tmpdir(), 'agora-sim-cli-'))
function file (name: string, content: unknown): string {
  const p = join(dir, name)
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content))
  return p
}

describe('agora CLI', () => {
  it('prints help with exit 0 and usage errors with exit 2', async () => {
    const a = io()
    expect(await main(['--help'], a)).toBe(0)
    expect(a.out).toContain('sim')
    const b = io()
    expect(await main([], b)).toBe(2)
    const c = io()
    expect(await main(['sim', '--help'], c)).toBe(0)
    expect(c.out).toContain('agora sim fuzz')
    // The cluster harness's usage is part of it, spelled out (not its placeholder).
    expect(c.out).toContain('agora sim cluster [--nodes N]')
    expect(c.out).not.toContain('${')
    const d = io()
    expect(await main(['sim', 'run', '--help'], d)).toBe(0)
  })

  it('exits 2 naming an unknown command or subcommand', async () => {
    const a = io()
    expect(await main(['frobnicate'], a)).toBe(2)
    expect(a.err).toContain('unknown command "frobnicate"')
    const b = io()
    expect(await main(['sim', 'explode'], b)).toBe(2)
    expect(b.err).toContain('unknown subcommand "explode"')
    const c = io()
    expect(await main(['sim', 'fuzz', '--nodes', 'many'], c)).toBe(2)
    expect(c.err).toContain('--nodes')
    const d = io()
    expect(await main(['sim', 'run', file('x.json', { nodes: 1, steps: [] }), '--bogus'], d)).toBe(2)
    const e = io()
    expect(await main(['sim', 'fuzz', '--faults', 'meteor'], e)).toBe(2)
    expect(e.err).toContain('unknown fault "meteor"')
  })

  it('exits 2 with the step and field for a malformed scenario, and prints no report', async () => {
    const a = io()
    const p = file('bad.json', { nodes: 3, steps: [{ campaign: 1 }, { campaign: 9 }] })
    expect(await main(['sim', 'run', p, '--json'], a)).toBe(2)
    expect(a.out).toBe('')
    expect(a.err).toContain('step 1: campaign')
    const b = io()
    expect(await main(['sim', 'run', file('bad2.json', { nodes: 3, steps: [{ teleport: 1 }] })], b)).toBe(2)
    expect(b.err).toContain('unknown verb "teleport"')
    const c = io()
    expect(await main(['sim', 'run', join(dir, 'missing.json')], c)).toBe(2)
  })

  it('runs the agent-level verbs (no longer exit 2) and reports the economy', async () => {
    const a = io()
    const p = file('mint.json', {
      nodes: 3,
      steps: [
        { run: 100 },
        { agent: { id: 'a1', node: 2, capabilities: ['gpu'], bid: 30 } },
        { agent: { id: 'a2', node: 3, capabilities: ['gpu'], bid: 20 } },
        { mint: { account: 'a1', amount: 100 } },
        { mint: { account: 'a2', amount: 100 } },
        { auction: { id: 'g1', node: 1, type: 'first-price', items: ['gpu'], bidders: { capability: 'gpu' } } },
        { stake: { account: 'a2', amount: 10 } },
        { slash: { account: 'a2', condition: 'byzantine_behavior' } },
        { expect: { auction: { g1: { status: 'settled', winner: 'a1', price: 30 } }, supply: { minted: 200, total: 200 } } }
      ]
    })
    expect(await main(['sim', 'run', p, '--json'], a)).toBe(0)
    const report = JSON.parse(a.out) as Record<string, any>
    expect(report.ok).toBe(true)
    expect(report.auctions.g1).toEqual({ status: 'settled', winners: [{ agent: 'a1', items: ['gpu'], price: 30 }], welfare: 30, clearingPrice: 30, quantity: 1 })
    // byzantine_behavior (critical, 100 % x 5, no grace) takes the whole stake.
    expect(report.accounts.a2).toMatchObject({ free: 90, staked: 0, escrow: 0 })
    expect(report.accounts.a1).toMatchObject({ free: 70, staked: 0, escrow: 0 })
    expect(report.supply.minted).toBe(200)
    expect(report.supply.total).toBe(200)
    expect(report.nodes['1'].log.some((e: [number, number, string]) => e[2].startsWith('econ:{"cmd":{"type":"auction.open"'))).toBe(true)
  })

  it('fuzz --economy runs random auction scenarios and prints a trace per seed', async () => {
    const a = io()
    expect(await main(['sim', 'fuzz', '--economy', '--seeds', '3', '--seed-start', '11'], a)).toBe(0)
    expect(a.out).toMatch(/^seed 11: ok trace [0-9a-f]{64}$/m)
    expect(a.out).toContain('3/3 seeds ok (economy, 5 nodes)')
    const b = io()
    expect(await main(['sim', 'fuzz', '--economy', '--seeds', '1', '--seed-start', '11', '--json'], b)).toBe(0)
    expect(JSON.parse(b.out)).toMatchObject({ economy: true, ok: true, failing: [] })
    const c = io()
    expect(await main(['sim', 'fuzz', '--economy', '--nodes', '2'], c)).toBe(2)
  })

  it('fuzz --economy --ledger checks the ledger history per seed; --ledger alone is a usage error', async () => {
    const a = io()
    expect(await main(['sim', 'fuzz', '--economy', '--ledger', '--seeds', '2', '--seed-start', '5'], a)).toBe(0)
    expect(a.out).toContain('2/2 seeds ok (economy + ledger linearizability, 5 nodes)')
    const b = io()
    expect(await main(['sim', 'fuzz', '--ledger', '--seeds', '1'], b)).toBe(2)
  })

  it('exits 0 with one JSON report for a passing scenario and 1 for a failed expect', async () => {
    const a = io()
    const ok = file('ok.yaml', 'name: ok\nnodes: 3\nsteps:\n  - campaign: 1\n  - expect: { leader: 1 }\n')
    expect(await main(['sim', 'run', ok, '--json'], a)).toBe(0)
    const report = JSON.parse(a.out)
    expect(report.ok).toBe(true)
    expect(report.name).toBe('ok')
    expect(a.out.trim().split('\n')).toHaveLength(1)
    for (const k of ['name', 'seed', 'ok', 'nodes', 'readStates', 'auctions', 'accounts', 'supply', 'history', 'violations', 'trace']) expect(report).toHaveProperty(k)
    expect(report.nodes['1']).toMatchObject({ role: 'leader', term: 1, vote: 1, leader: 1, commit: 1, applied: 1, firstIndex: 1, log: [[1, 1, '']] })
    const b = io()
    const bad = file('fail.yaml', 'name: fail\nnodes: 3\nsteps:\n  - campaign: 1\n  - expect: { leader: 2 }\n')
    expect(await main(['sim', 'run', bad, '--json'], b)).toBe(1)
    const r2 = JSON.parse(b.out)
    expect(r2.ok).toBe(false)
    expect(r2.expectFailures[0].step).toBe(1)
    const c = io()
    expect(await main(['sim', 'run', bad], c)).toBe(1)
    expect(c.out).toContain('expect failed at step 1')
  })

  it('--seed overrides the file seed', async () => {
    const a = io()
    const p = file('seeded.json', { nodes: 3, seed: 5, steps: [{ run: 500 }] })
    expect(await main(['sim', 'run', p, '--json', '--seed', '9'], a)).toBe(0)
    expect(JSON.parse(a.out).seed).toBe(9)
  })

  it('fuzz prints each seed trace and exits 0 when all pass; same seed, same trace', async () => {
    const a = io()
    expect(await main(['sim', 'fuzz', '--nodes', '3', '--seeds', '3', '--ticks', '200', '--seed-start', '11', '--json'], a)).toBe(0)
    const r = JSON.parse(a.out)
    expect(r.ok).toBe(true)
    expect(Object.keys(r.traces)).toEqual(['11', '12', '13'])
    const b = io()
    expect(await main(['sim', 'fuzz', '--nodes', '3', '--seeds', '1', '--ticks', '200', '--seed-start', '12'], b)).toBe(0)
    expect(b.out).toContain(`seed 12: ok trace ${String(r.traces['12'])}`)
    const c = io()
    expect(await main(['sim', 'fuzz', '--nodes', '3', '--seeds', '2', '--ticks', '200', '--faults', 'crash,garbage'], c)).toBe(0)
    expect(c.out).toContain('2/2 seeds ok')
  })

  it('fuzz runs coordination traffic by default; --no-coordination leaves it out (and other traces)', async () => {
    const a = io()
    expect(await main(['sim', 'fuzz', '--nodes', '3', '--seeds', '1', '--ticks', '300', '--seed-start', '4', '--json'], a)).toBe(0)
    const b = io()
    expect(await main(['sim', 'fuzz', '--nodes', '3', '--seeds', '1', '--ticks', '300', '--seed-start', '4', '--json', '--no-coordination'], b)).toBe(0)
    const [ra, rb] = [JSON.parse(a.out), JSON.parse(b.out)]
    expect([ra.coordination, rb.coordination]).toEqual([true, false])
    expect(ra.traces['4']).not.toBe(rb.traces['4'])
    const c = io()
    expect(await main(['sim', 'fuzz', '--nodes', '3', '--seeds', '1', '--ticks', '300', '--no-coordination'], c)).toBe(0)
    expect(c.out).toContain('no coordination')
    const d = io()
    expect(await main(['sim', 'fuzz', '--economy', '--seeds', '1', '--seed-start', '2', '--no-coordination'], d)).toBe(0)
    expect(d.out).toContain('1/1 seeds ok (economy, no coordination, 5 nodes)')
  })

  it('fuzz runs task traffic by default; --no-tasks leaves it out (the replay command says so)', async () => {
    const a = io()
    expect(await main(['sim', 'fuzz', '--nodes', '3', '--seeds', '1', '--ticks', '300', '--seed-start', '4', '--json'], a)).toBe(0)
    const b = io()
    expect(await main(['sim', 'fuzz', '--nodes', '3', '--seeds', '1', '--ticks', '300', '--seed-start', '4', '--json', '--no-tasks'], b)).toBe(0)
    const [ra, rb] = [JSON.parse(a.out), JSON.parse(b.out)]
    expect([ra.tasks, rb.tasks]).toEqual([true, false])
    expect(ra.traces['4']).not.toBe(rb.traces['4'])
    const c = io()
    expect(await main(['sim', 'fuzz', '--nodes', '3', '--seeds', '1', '--ticks', '300', '--no-tasks', '--no-coordination'], c)).toBe(0)
    expect(c.out).toContain('no coordination, no tasks')
    expect(replayCommand(5, 2000, 7, FAULT_KINDS, true, false)).toBe('npx agora sim fuzz --nodes 5 --seeds 1 --ticks 2000 --seed-start 7 --no-tasks')
  })

  it('runs a task scenario and reports its tasks and messages', async () => {
    const a = io()
    const p = file('tasks.json', { nodes: 3, steps: [{ run: 500 }, { worker: { agent: 'w', node: 2, capabilities: ['c'] } }, { task: { id: 't', node: 1, capability: 'c' } }, { message: { id: 'm', from: 'w', to: 'w' } }, { run: 1000 }, { expect: { task: { t: { state: 'completed', agent: 'w' } }, message: { m: { status: 'acked' } } } }] })
    expect(await main(['sim', 'run', p, '--json'], a)).toBe(0)
    const r = JSON.parse(a.out)
    expect(r.tasks.tasks.t).toMatchObject({ created: true, state: 'completed', agent: 'w', attempts: [{ attempt: 1, agent: 'w', node: 2, end: 'completed' }], completedBy: 1 })
    expect(r.tasks.messages.m).toEqual({ from: 'w', to: 'w', status: 'acked', delivered: 1 })
  })

  it('runs a coordination scenario and reports its coordination', async () => {
    const a = io()
    const p = file('coord.json', { nodes: 3, steps: [{ run: 500 }, { elect: { node: 2, name: 'e' } }, { barrier: { node: 1, name: 'b', parties: 1, agent: 'w' } }, { expect: { election: { e: { leader: 2 } }, barrier: { b: { outcomes: ['released'] } } } }] })
    expect(await main(['sim', 'run', p, '--json'], a)).toBe(0)
    const r = JSON.parse(a.out)
    expect(r.coordination.elections.e.leader).toMatchObject({ node: 2, value: 'n2' })
    expect(r.coordination.barriers.b).toMatchObject({ parties: 1, generation: 2, outcomes: [{ generation: 1, status: 'released' }] })
  })
})
