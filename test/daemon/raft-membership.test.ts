/**
 * Raft membership over HTTP and the CLI (O8), with real daemons on loopback: three voters, a fourth
 * daemon joining as a learner and replacing a voter, leadership moved to it, a learner added and
 * removed through `agora raft`, and `GET /v1/members` / `agora members` showing who is what.
 */
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CLI, NODE, api, exitOf, startDaemon, startMesh, stopAll } from './helpers.js'
import type { Daemon, DaemonMesh } from './helpers.js'
import { waitUntil } from '../helpers/wait.js'

let root: string
let mesh: DaemonMesh
let d3: Daemon

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agora-raft-members-'))
  mesh = await startMesh(root)
  const dir = join(root, 'd3')
  // The newcomer knows the group's voters but is not one of them: it runs Raft and waits to be added.
  d3 = await startDaemon(dir, ['--raft-voters', mesh.ids.join(','), '--bootstrap', mesh.daemons[0].addresses[0]!])
})

afterAll(async () => {
  await stopAll()
  await rm(root, { recursive: true, force: true })
})

const all = (): Daemon[] => [...mesh.daemons, d3]

/** The daemon that leads now (per its own status). */
async function leaderDaemon (): Promise<Daemon> {
  return await waitUntil(async () => {
    for (const d of all()) {
      if (d.proc.exitCode !== null || d.proc.signalCode !== null) continue
      if ((await api(d, 'GET', '/v1/raft')).json?.raft?.role === 'leader') return d
    }
    return undefined
  }, 'a Raft leader')
}

function cli (d: Daemon, ...args: string[]): string {
  return execFileSync(NODE, [CLI, ...args, '--http', d.http, '--data-dir', d.dir]).toString()
}

describe('Raft membership through the daemons', () => {
  it('a fourth daemon joins as a learner, replaces a voter, and takes the leadership', async () => {
    const leader = await leaderDaemon()
    const follower = mesh.daemons.find(d => d !== leader)!
    // A follower refuses membership changes and names the leader.
    const refused = await api(follower, 'POST', '/v1/raft/learners', { peerId: d3.peerId })
    expect(refused.status).toBe(409)
    expect(refused.json.error).toMatchObject({ code: 'ERR_NOT_LEADER', leader: leader.peerId })
    expect((await api(leader, 'POST', '/v1/raft/learners', { peerId: 'not-a-peer-id' })).json.error).toMatchObject({ code: 'ERR_BAD_REQUEST', path: 'peerId' })

    const added = await api(leader, 'POST', '/v1/raft/learners', { peerId: d3.peerId })
    expect(added.status).toBe(200)
    expect(added.json.raft.learners).toEqual([d3.peerId])
    // The learner replicates the log: a value written before shows up in its replica.
    expect((await api(leader, 'PUT', '/v1/variables/strong/members.before', { value: 'old' })).status).toBe(200)
    await waitUntil(async () => (await api(d3, 'GET', '/v1/variables/strong/members.before?linearizable=false')).json.value === 'old', 'the learner to apply members.before')
    const members = (await api(leader, 'GET', '/v1/members')).json.members as any[]
    const byId = new Map(members.map(m => [m.peerId, m]))
    expect(byId.get(d3.peerId)).toMatchObject({ raft: 'learner', reachability: 'reachable', connected: true })
    expect(byId.get(leader.peerId)).toMatchObject({ raft: 'leader', self: true })
    expect(byId.get(follower.peerId)).toMatchObject({ raft: 'voter', reachability: 'reachable' })
    expect(byId.get(follower.peerId).addresses.length).toBeGreaterThan(0)
    expect(typeof byId.get(follower.peerId).syncLag).toBe('number')
    expect(byId.get(follower.peerId).lastSeenAt).toBeGreaterThan(Date.now() - 60_000)
    // Promoting a non-learner is refused by name.
    expect((await api(leader, 'POST', '/v1/raft/promote', { peerId: follower.peerId })).json.error).toMatchObject({ code: 'ERR_CONF_CHANGE_REFUSED', reason: 'invalidConfChange' })

    // Replace the follower by the newcomer, then stop the replaced daemon.
    const replaced = await api(leader, 'POST', '/v1/raft/replace', { dead: follower.peerId, live: d3.peerId, timeoutMs: 30_000 })
    expect(replaced.status).toBe(200)
    expect([...replaced.json.raft.voters].sort()).toEqual(mesh.ids.filter(id => id !== follower.peerId).concat(d3.peerId).sort())
    expect(replaced.json.raft.learners).toEqual([])
    follower.proc.kill('SIGTERM')
    expect((await exitOf(follower.proc)).code).toBe(0)
    // The group of leader, the third original voter and d3 commits without the removed one.
    expect((await api(d3, 'PUT', '/v1/variables/strong/members.after', { value: 'new' })).status).toBe(200)
    expect((await api(leader, 'GET', '/v1/variables/strong/members.after')).json.value).toBe('new')

    // Leadership to the newcomer.
    const moved = await api(leader, 'POST', '/v1/raft/transfer', { to: d3.peerId })
    expect(moved.status).toBe(200)
    expect(moved.json.transferred).toBe(true)
    await waitUntil(async () => (await api(d3, 'GET', '/v1/raft')).json.raft.role === 'leader', 'd3 to lead')
    expect((await api(d3, 'PUT', '/v1/variables/strong/members.led', { value: 1 })).status).toBe(200)
  })

  it('agora raft adds and removes a learner; agora members shows the roles', async () => {
    const leader = await leaderDaemon()
    const stopped = mesh.daemons.find(d => d.proc.exitCode !== null || d.proc.signalCode !== null)!
    const status = JSON.parse(cli(leader, 'raft', 'add-learner', stopped.peerId))
    expect(status.raft.learners).toEqual([stopped.peerId])
    const table = cli(leader, 'members')
    const line = (id: string): string => table.split('\n').find(l => l.startsWith(id))!
    expect(line(leader.peerId)).toMatch(/\(self\)\s+leader\s+reachable/)
    expect(line(stopped.peerId)).toMatch(/\s+learner\s+/)
    const json = JSON.parse(cli(leader, 'members', '--output', 'json'))
    expect(json.members.find((m: any) => m.peerId === stopped.peerId).raft).toBe('learner')
    const after = JSON.parse(cli(leader, 'raft', 'remove', stopped.peerId))
    expect(after.raft.learners).toEqual([])
    expect(after.raft.voters).not.toContain(stopped.peerId)
    expect(JSON.parse(cli(leader, 'raft', 'status')).raft.role).toBe('leader')
    // Removing a peer that is not a member is refused by name (exit 1 with the code).
    try {
      execFileSync(NODE, [CLI, 'raft', 'remove', stopped.peerId, '--http', leader.http, '--data-dir', leader.dir], { stdio: 'pipe' })
      expect.unreachable()
    } catch (err) {
      const e = err as { status: number, stderr: Buffer }
      expect(e.status).toBe(1)
      expect(e.stderr.toString()).toMatch(/ERR_CONF_CHANGE_REFUSED/)
    }
  })
})
