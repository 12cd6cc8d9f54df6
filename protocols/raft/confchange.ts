/**
 * Encoding of a {@link ConfChange} into a confChange entry's data: 1 type byte + the node id as a
 * big-endian float64 (9 bytes). Decoding is bounds-checked and fails with DecodeError.
 */
import { DecodeError } from '../../src/base/errors.js'
import type { ConfChange, ConfChangeType } from './types.js'

const TYPES: readonly ConfChangeType[] = ['addVoter', 'removeVoter', 'addLearner', 'promoteLearner']
export const CONF_CHANGE_BYTES = 9

export function encodeConfChange (cc: ConfChange): Uint8Array {
  const out = new Uint8Array(CONF_CHANGE_BYTES)
  out[0] = TYPES.indexOf(cc.type)
  new DataView(out.buffer).setFloat64(1, cc.nodeId)
  return out
}

export function decodeConfChange (data: Uint8Array): ConfChange {
  if (data.length !== CONF_CHANGE_BYTES) throw new DecodeError('confChange', `expected ${CONF_CHANGE_BYTES} bytes, got ${data.length}`)
  const type = TYPES[data[0]!]
  if (type === undefined) throw new DecodeError('confChange', `unknown type ${data[0]}`)
  const nodeId = new DataView(data.buffer, data.byteOffset, data.byteLength).getFloat64(1)
  if (!isNodeId(nodeId)) throw new DecodeError('confChange', `bad node id ${nodeId}`)
  return { type, nodeId }
}

export function isNodeId (x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x > 0
}
