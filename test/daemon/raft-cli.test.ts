/** `agora raft` and `agora members`: usage errors are named (exit 2) before any daemon or token is looked for. */
import { describe, expect, it } from 'vitest'
import { main } from '../../src/cli.js'
import type { CliIo } from '../../src/cli.js'
import { membersTable } from '../../src/daemon/raft-commands.js'

function buffers (): { io: CliIo, out: () => string, err: () => string } {
  let out = ''
  let err = ''
  return { io: { stdout: t => { out += t }, stderr: t => { err += t }, readFile: () => '' }, out: () => out, err: () => err }
}

describe('agora raft / agora members usage', () => {
  it('names a missing or unknown subcommand, a missing peer id, an extra argument and a bad --timeout-ms', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['raft'], /raft needs a subcommand \(status, add-learner, promote, remove, replace, transfer\)/],
      [['raft', 'frob'], /unknown subcommand "frob" of raft/],
      [['raft', 'add-learner'], /raft add-learner needs a peer id/],
      [['raft', 'replace', 'a'], /raft replace needs two peer ids \(dead, live\)/],
      [['raft', 'status', 'extra'], /unexpected argument extra/],
      [['raft', 'transfer', 'p', '--timeout-ms', '0'], /--timeout-ms needs a positive integer/],
      [['members', 'extra'], /unexpected argument extra/],
      [['members', '--output', 'xml'], /--output is table or json/]
    ]
    const saved = process.env.AGORA_TOKEN
    delete process.env.AGORA_TOKEN
    try {
      for (const [args, message] of cases) {
        const b = buffers()
        expect(await main(args, b.io), args.join(' ')).toBe(2)
        expect(b.err(), args.join(' ')).toMatch(message)
        expect(b.err(), args.join(' ')).not.toMatch(/no token/)
      }
    } finally {
      if (saved !== undefined) process.env.AGORA_TOKEN = saved
    }
    const help = buffers()
    expect(await main(['raft', '--help'], help.io)).toBe(0)
    expect(help.out()).toMatch(/usage: agora raft status/)
  })

  it('prints members as an aligned table, self marked, never-seen peers as never', () => {
    const t = membersTable([
      { peerId: 'A', self: true, connected: true, addresses: ['/ip4/127.0.0.1/tcp/1'], zone: 'eu', reachability: 'reachable', lastSeenAt: Date.now(), raft: 'leader', syncLag: 0, lastSyncAt: null, rttMs: null },
      { peerId: 'BB', self: false, connected: false, addresses: [], zone: null, reachability: 'unknown', lastSeenAt: null, raft: 'learner', syncLag: 3, lastSyncAt: null, rttMs: null }
    ]).split('\n')
    expect(t[0]).toMatch(/^PEER\s+RAFT\s+REACHABILITY\s+LAST SEEN\s+SYNC LAG\s+ZONE\s+ADDRESSES$/)
    expect(t[1]).toMatch(/^A \(self\)\s+leader\s+reachable\s+-\s+0\s+eu\s+\/ip4\/127\.0\.0\.1\/tcp\/1$/)
    expect(t[2]).toMatch(/^BB\s+learner\s+unknown\s+never\s+3\s+-\s+-$/)
    expect(t[1]!.indexOf('leader')).toBe(t[2]!.indexOf('learner'))
  })
})
