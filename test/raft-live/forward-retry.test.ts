/**
 * A proposal a follower forwards to the leader may be lost on the way (the stream to the leader failed
 * and its queue was dropped, the leader was handing over leadership): nothing is ever appended and
 * nothing says so. A live follower must send it again (the same envelope, `proposalResendMs`) well before
 * its deadline, not wait the whole timeout and report it indefinite (ERR_INDEFINITE, seen once in CI
 * for a lock proposed from a follower daemon). Three live drivers (real timers) on an in-test network
 * that loses the first forwarded proposal.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { LiveRaftDriver } from '../../peers/raft/driver.js'
import type { RaftTransport } from '../../peers/raft/transport.js'
import type { Message } from '../../protocols/raft/types.js'
import { createLogger } from '../../src/base/log.js'
import { waitUntil } from '../helpers/wait.js'
import { ListApp } from '../helpers/list-app.js'

const enc = new TextEncoder()
const drivers: LiveRaftDriver[] = []
afterEach(() => { for (const d of drivers.splice(0)) d.stop() })

describe('a proposal forwarded by a follower and lost on the way', () => {
  it('is proposed again under its session and applies once, well within its timeout', async () => {
    let lost = 0
    let loseNext = false
    const apps = [new ListApp(), new ListApp(), new ListApp()]
    const byId = new Map<number, LiveRaftDriver>()
    for (let i = 0; i < 3; i++) {
      const transport = {
        send: (ms: readonly Message[]) => {
          for (const m of ms) {
            if (m.type === 'propose' && loseNext) { loseNext = false; lost++; continue }
            setImmediate(() => { byId.get(m.to)?.receive(m) })
          }
        }
      } as unknown as RaftTransport
      const d = new LiveRaftDriver({ id: i + 1, voters: [1, 2, 3], transport, application: apps[i]!, seed: i + 1, origin: `p${i + 1}`, log: createLogger('silent'), options: { tickMs: 10, electionTick: 10, proposalTimeoutMs: 4000 } })
      byId.set(i + 1, d)
      drivers.push(d)
      d.start()
    }
    drivers[0]!.campaign()
    await waitUntil(() => drivers.every(d => d.leaderId === 1), { timeoutMs: 20_000 })
    const follower = drivers[1]!
    loseNext = true
    // With its default timeout (as the peer's Raft service calls it). Without a retry before that
    // deadline this rejects with ERR_INDEFINITE.
    const r = await follower.proposeReliably(enc.encode('once'))
    expect(lost).toBe(1)
    expect(r.result).toBe(1)
    await waitUntil(() => apps.every(a => a.items.length === 1), { timeoutMs: 20_000 })
    for (const a of apps) expect(a.items).toEqual(['once'])
  })
})
