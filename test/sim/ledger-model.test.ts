import { describe, expect, it } from 'vitest'
import { checkLinearizable, ledgerModel, type LedgerOperation } from '../../sim/linearizability/index.js'

const m = ledgerModel(2)
const op = (clientId: number, input: LedgerOperation['input'], call: number, ret: number | null, output: LedgerOperation['output']): LedgerOperation => ({ clientId, input, call, return: ret, output })

describe('ledger model', () => {
  it('accepts a history with concurrent transfers ordered either way', () => {
    const h = [
      op(0, { op: 'mint', account: 0, amount: 10 }, 0, 1, {}),
      op(1, { op: 'transfer', from: 0, to: 1, amount: 7 }, 2, 6, { ok: true }),
      op(2, { op: 'transfer', from: 0, to: 1, amount: 5 }, 3, 7, { ok: false }),
      op(3, { op: 'read', account: 1 }, 8, 9, { free: 7 })
    ]
    expect(checkLinearizable(m, h).result).toBe('ok')
  })

  it('flags a stale read and a transfer that succeeded without funds', () => {
    const stale = [
      op(0, { op: 'mint', account: 0, amount: 10 }, 0, 1, {}),
      op(1, { op: 'transfer', from: 0, to: 1, amount: 4 }, 2, 3, { ok: true }),
      op(2, { op: 'read', account: 0 }, 4, 5, { free: 10 })
    ]
    expect(checkLinearizable(m, stale).result).toBe('illegal')
    const overdraft = [
      op(0, { op: 'mint', account: 0, amount: 3 }, 0, 1, {}),
      op(1, { op: 'transfer', from: 0, to: 1, amount: 4 }, 2, 3, { ok: true })
    ]
    expect(checkLinearizable(m, overdraft).result).toBe('illegal')
  })

  it('an indefinite transfer may or may not have applied', () => {
    const h = [
      op(0, { op: 'mint', account: 0, amount: 10 }, 0, 1, {}),
      op(1, { op: 'transfer', from: 0, to: 1, amount: 4 }, 2, null, undefined),
      op(2, { op: 'read', account: 1 }, 5, 6, { free: 0 }),
      op(2, { op: 'read', account: 1 }, 7, 8, { free: 4 })
    ]
    expect(checkLinearizable(m, h).result).toBe('ok')
    // ...but once seen applied, it cannot un-apply.
    h.push(op(2, { op: 'read', account: 1 }, 9, 10, { free: 0 }))
    expect(checkLinearizable(m, h).result).toBe('illegal')
  })
})
