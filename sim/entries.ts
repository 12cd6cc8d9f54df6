/**
 * How the simulator shows a log entry's data in reports and traces (SCENARIOS.md "Report"): `""` for the
 * leader's empty entry, `conf:<type>:<node>` for a membership change, the text of a scenario's raw
 * proposal, and for a command of the shipped envelope (protocols/raft/envelope.ts) one line of JSON
 * after a prefix naming its state machine:
 *
 *     econ:{"cmd":{"type":"mint",...},"o":"operator","t":2000,"c":"operator/sim","s":7}
 *     coord:{"cmd":{"t":"lease.grant","ttlMs":2000},"o":"n1","t":1010,"c":"n1/sim","s":1}
 *     var:{"cmd":{"op":"set","name":"x","value":"3"},"o":"c1","t":120,"c":"c1/kv","s":4}
 *
 * `cmd` is the command, `o` its origin, `t` the proposal's clock stamp, `c` and `s` its session.
 */
import { COORD_TAG, ECON_TAG } from '../protocols/mesh/application.js'
import { decodeEnvelope, looksLikeEnvelope, originOf } from '../protocols/raft/envelope.js'
import type { ConfChange, Entry } from '../protocols/raft/index.js'

const dec = new TextDecoder()

export function describeEntry (e: Entry, decodeConf: (data: Uint8Array) => ConfChange): string {
  if (e.type === 'confChange') {
    try {
      const cc = decodeConf(e.data)
      return `conf:${cc.type}:${cc.nodeId}`
    } catch {
      return `conf:${dec.decode(e.data)}`
    }
  }
  if (e.data.length === 0) return ''
  if (!looksLikeEnvelope(e.data)) return dec.decode(e.data)
  try {
    const env = decodeEnvelope(e.data)
    const tag = env.command[0]
    const prefix = tag === ECON_TAG ? 'econ' : tag === COORD_TAG ? 'coord' : 'var'
    const body = dec.decode(prefix === 'var' ? env.command : env.command.subarray(1))
    let cmd: unknown
    try { cmd = JSON.parse(body) } catch { cmd = body }
    return `${prefix}:${JSON.stringify({ cmd, o: originOf(env.clientId), t: env.at, c: env.clientId, s: env.seq })}`
  } catch {
    return dec.decode(e.data)
  }
}
