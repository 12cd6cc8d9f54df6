import { describe, expect, it } from 'vitest'
import { parseArgs } from '../../src/daemon/commands.js'
import { parseFlags } from '../../src/cli-util.js'

describe('command-line flags named like Object.prototype properties', () => {
  it('are unknown options (ERR_USAGE), not inherited table entries', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(() => parseArgs([`--${name}`, 'x'], { http: 'string' }), name).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }))
      expect(() => parseFlags([`--${name}`, '1'], { seed: 'number' }), name).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }))
    }
    expect(parseArgs(['--http', 'h:1'], { http: 'string' }).flags).toEqual({ http: 'h:1' })
  })
})
