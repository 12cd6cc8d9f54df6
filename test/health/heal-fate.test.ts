/**
 * Settling an indefinite command's fate through its Raft session (peers/health/heal-fate.ts), over TCP:
 * a command whose proposer gave up while its entry was on the way commits, and is settled `committed`
 * with its result; one that never reached a log is settled `not-committed`, and can never apply after.
 * And what a report says of a command (describeCommand).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLiveMesh } from '../../sim/live.js'
import type { LiveMesh } from '../../sim/live.js'
import { SETTLE_NOOP, describeCommand, settleFate } from '../../peers/health/heal-fate.js'
import { encodeCoordCommand, encodeEconCommand, encodeTaskCommand } from '../../protocols/mesh/application.js'
import type { RaftServiceEvents } from '../../peers/raft/service.js'
import { FAST } from '../mesh/helpers.js'

const enc = new TextEncoder()
const setCommand = (name: string, value: unknown): Uint8Array => enc.encode(JSON.stringify({ op: 'set', name, value: JSON.stringify(value) }))

describe('settleFate over TCP', () => {
  let mesh: LiveMesh
  beforeAll(async () => {
    // Elections after 2 s of silence at the least: the held-back messages below (900 ms) move no leader.
    mesh = await createLiveMesh({ peers: 3, ...FAST, raft: { voters: 3, electionTick: 40, proposalTimeoutMs: 300 } })
  }, 60_000)
  afterAll(async () => { await mesh?.stop() })

  it('a command applied after its proposer gave up is committed, with its result', async () => {
    const l = await mesh.waitForLeader()
    const raft = mesh.peers[l]!.raft!
    const seen: Array<RaftServiceEvents['raft:indefinite']> = []
    const off = raft.on('raft:indefinite', (e) => { seen.push(e) })
    // The leader's messages to both followers are held back past the proposal's time: it cannot commit in time.
    for (const j of [0, 1, 2]) if (j !== l) mesh.delay(l, j, 900)
    const command = setCommand('fate.late', 'landed')
    await expect(raft.propose(command)).rejects.toMatchObject({ code: 'ERR_INDEFINITE' })
    off()
    for (const j of [0, 1, 2]) if (j !== l) mesh.delay(l, j, 0)
    expect(seen.length).toBe(1)
    expect(seen[0]!.command).toEqual(command)
    const fate = await settleFate(raft, seen[0]!.session, false, 10_000)
    expect(fate).toEqual({ fate: 'committed', result: { ok: true, value: '"landed"' } })
    expect(await mesh.peers[l]!.variables.strong('fate.late').get()).toBe('landed')
    // Settling again answers the same (the session table remembers it).
    expect(await settleFate(raft, seen[0]!.session, false, 10_000)).toEqual({ fate: 'committed', result: { ok: true, value: '"landed"' } })
  })

  it('a command that never reached a log is not committed, and its session slot is taken for good', async () => {
    const l = await mesh.waitForLeader()
    const follower = [0, 1, 2].find(i => i !== l)!
    const raft = mesh.peers[follower]!.raft!
    // A session this driver never proposed under: nothing of it is in any log.
    const session = raft.driver!.newSession()
    const command = setCommand('fate.never', 'lost')
    expect(await settleFate(raft, session, false, 10_000)).toEqual({ fate: 'not-committed' })
    // The command itself, retried under its session now, is answered from the slot the no-op took: it does not apply.
    const r = await raft.driver!.proposeReliably(command, 5000, session)
    expect(r.result).toEqual({ error: { code: 'ERR_INVALID_VARIABLE', message: 'malformed command' } })
    expect(await mesh.peers[l]!.variables.strong('fate.never').get()).toBe(null)
  })
})

describe('describeCommand', () => {
  it('names the machine, the operation and the subject', () => {
    expect(describeCommand(setCommand('gpu.price', '99 credits'))).toEqual({ kind: 'strong', op: 'set', name: 'gpu.price', value: '99 credits' })
    expect(describeCommand(setCommand('big', 'x'.repeat(2000)))).toMatchObject({ kind: 'strong', value: { omitted: 'value', bytes: 2002 } })
    expect(describeCommand(encodeEconCommand({ type: 'transfer', by: 'a', from: 'a', to: 'b', amount: 3 }))).toEqual({ kind: 'economy', op: 'transfer', name: 'a' })
    expect(describeCommand(encodeEconCommand({ type: 'auction.close', by: 's', auction: 'gpu-1' }))).toEqual({ kind: 'economy', op: 'auction.close', name: 'gpu-1' })
    expect(describeCommand(encodeCoordCommand({ t: 'lock.acquire', lock: 'db' }))).toEqual({ kind: 'coordination', op: 'lock.acquire', name: 'db' })
    expect(describeCommand(encodeTaskCommand({ t: 'task.cancel', task: 4 }))).toEqual({ kind: 'task', op: 'task.cancel' })
    expect(describeCommand(new Uint8Array([0x7b, 0xff]))).toEqual({ kind: 'strong' })
    expect(describeCommand(SETTLE_NOOP)).toEqual({ kind: 'strong', op: 'settle' })
  })
})
