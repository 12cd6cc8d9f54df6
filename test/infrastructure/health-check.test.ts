import { describe, expect, it } from 'vitest'
import { CheckState, checkDamping } from '../../protocols/infrastructure/index.js'
import { InvalidOptionError } from '../../src/base/errors.js'

const damp = (failuresBeforeCritical: number, successesBeforePassing: number): ReturnType<typeof checkDamping> =>
  checkDamping({ failuresBeforeCritical, successesBeforePassing }, { failuresBeforeCritical: 1, successesBeforePassing: 1 })

describe('CheckState (health checks damping)', () => {
  it('turns critical only after failuresBeforeCritical failures in a row, passing again after successesBeforePassing passes', () => {
    const s = new CheckState(damp(3, 2), 'passing', 0)
    expect(s.result('critical', 'down', 1)).toBeUndefined()
    expect(s.result('critical', 'down', 2)).toBeUndefined()
    expect(s.failures).toBe(2)
    expect(s.result('critical', 'down', 3)).toBe('passing')
    expect(s.status).toBe('critical')
    expect(s.since).toBe(3)
    expect(s.result('passing', 'ok', 4)).toBeUndefined()
    expect(s.status).toBe('critical')
    expect(s.result('passing', 'ok', 5)).toBe('critical')
    expect(s.status).toBe('passing')
    expect(s.changes).toBe(2)
    expect(s.results).toBe(5)
  })

  it('a flapping check keeps its status: a result equal to the status breaks the streak', () => {
    const s = new CheckState(damp(2, 2), 'passing', 0)
    for (let t = 1; t <= 20; t++) s.result(t % 2 === 0 ? 'critical' : 'passing', '', t)
    expect(s.status).toBe('passing')
    expect(s.changes).toBe(0)
    const c = new CheckState(damp(1, 2), 'critical', 0)
    for (let t = 1; t <= 20; t++) c.result(t % 2 === 0 ? 'critical' : 'passing', '', t)
    expect(c.status).toBe('critical')
    expect(c.changes).toBe(0)
  })

  it('warnings move the status to warning (and from critical up to it) under the same streaks', () => {
    const s = new CheckState(damp(2, 2), 'passing', 0)
    s.result('warning', 'slow', 1)
    expect(s.status).toBe('passing')
    expect(s.result('warning', 'slow', 2)).toBe('passing')
    expect(s.status).toBe('warning')
    s.result('critical', 'down', 3); s.result('critical', 'down', 4)
    expect(s.status).toBe('critical')
    s.result('warning', 'slow', 5); s.result('warning', 'slow', 6)
    expect(s.status).toBe('warning')
  })

  it('expire is critical at once and resets the streaks; the output and time are the last result\'s', () => {
    const s = new CheckState(damp(5, 3), 'passing', 0)
    s.result('critical', 'x', 1)
    expect(s.expire('TTL expired', 10)).toBe('passing')
    expect(s.status).toBe('critical')
    expect(s.output).toBe('TTL expired')
    expect(s.at).toBe(10)
    expect(s.expire('again', 20)).toBeUndefined()
    s.result('passing', 'ok', 21); s.result('passing', 'ok', 22)
    expect(s.status).toBe('critical')
    s.result('passing', 'ok', 23)
    expect(s.status).toBe('passing')
    expect(s.last).toBe('passing')
  })

  it('damping options are validated with a named error', () => {
    expect(() => checkDamping({ failuresBeforeCritical: 0 }, { failuresBeforeCritical: 1, successesBeforePassing: 1 })).toThrow(InvalidOptionError)
    expect(() => checkDamping({ successesBeforePassing: 1.5 }, { failuresBeforeCritical: 1, successesBeforePassing: 1 }, 'ttl')).toThrow(/ttl\.successesBeforePassing/)
    expect(checkDamping({}, { failuresBeforeCritical: 3, successesBeforePassing: 2 })).toEqual({ failuresBeforeCritical: 3, successesBeforePassing: 2 })
  })
})
