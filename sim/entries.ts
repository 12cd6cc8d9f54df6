/**
 * How the simulator shows a log entry's data in reports and traces (SCENARIOS.md "Report"): `""` for the
 * leader's empty entry, `conf:<type>:<node>` for a membership change, the text of a scenario's raw
 * proposal, and for a command of the shipped envelope (protocols/raft/envelope.ts) one line of JSON
 * after a prefix naming its state machine:
 *
 *     econ:{"cmd":{"type":"mint",...},"o":"operator","t":2000,"c":"operator/sim","s":7}
 *     var:{"cmd":{"op":"set","name":"x","value":"3"},"o":"c1","t":120,"c":"c1/kv","s":4}
 *
 * `cmd` is the command, `o` its origin, `t` the proposal's clock stamp, `c` and `s` its session.
 */
import { ECON_TAG } from '../protocols/mesh/application.js'
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
    const isEcon = env.command[0] === ECON_TAG
    const body = dec.decode(isEcon ? env.command.subarray(1) : env.command)
    let cmd: unknown
    try { cmd = JSON.parse(body) } catch { cmd = body }
    return `${isEcon ? 'econ' : 'var'}:${JSON.stringify({ cmd, o: originOf(env.clientId), t: env.at, c: env.clientId, s: env.seq })}`
  } catch {
    return dec.decode(e.data)
  }
}
