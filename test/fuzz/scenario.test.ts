/**
 * Fuzzing of scenario parsing (sim/scenario.ts): every stored scenario of test/scenarios, mutated as a
 * JSON value (a node replaced by a hostile value, keys dropped or added) and as text (YAML included:
 * byte mutations, alias bombs), is either accepted or refused with ScenarioError (`ERR_SCENARIO`) only.
 *
 * Replay a failure: `AGORA_TEST_SEED=<seed> AGORA_TEST_PATH=<path> npx vitest run test/fuzz/scenario.test.ts -t '<name>'`.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { parse as parseYaml } from 'yaml'
import { parseScenario, validateScenario } from '../../sim/scenario.js'
import { ScenarioError } from '../../sim/errors.js'
import { assertProperty } from '../helpers/seed.js'
import { RUNS, expectNamed, hostileJsonBytes } from './fuzz.js'

const dir = new URL('../scenarios/', import.meta.url)
const texts = readdirSync(dir).filter(f => /\.(ya?ml|json)$/.test(f)).sort().map(f => readFileSync(new URL(f, dir), 'utf8'))
const values = texts.map(t => parseYaml(t) as unknown)
const dec = new TextDecoder()

describe('fuzz: scenario files (sim/scenario.ts)', () => {
  it('the stored scenarios are valid (the valid end of the fuzzing)', () => {
    expect(texts.length).toBeGreaterThan(10)
    for (const t of texts) expect(() => parseScenario(t)).not.toThrow()
  })

  it('validateScenario throws ScenarioError only on structural mutations of every stored scenario', () => {
    assertProperty(fc.property(hostileJsonBytes(fc.constantFrom(...values)), (b) => {
      let v: unknown
      try { v = JSON.parse(dec.decode(b)) } catch { return }
      expectNamed(() => validateScenario(v), [ScenarioError], ['ERR_SCENARIO'], b.length)
    }), { numRuns: RUNS })
  })

  it('parseScenario throws ScenarioError only on mutated YAML text, alias bombs and deep nesting', () => {
    const yamlBytes = fc.constantFrom(...texts).map(t => new TextEncoder().encode(t))
    assertProperty(fc.property(fc.oneof(yamlBytes, hostileJsonBytes(fc.constantFrom(...values))), fc.array(fc.tuple(fc.nat(), fc.constantFrom(':', '- ', '&a ', '*a', '!!binary ', '\n  ', '{', '[', '"', '\t', '%YAML 1.1\n', '---\n')), { maxLength: 4 }), (b, edits) => {
      let t = dec.decode(b)
      for (const [p, s] of edits) { const i = t.length === 0 ? 0 : p % t.length; t = t.slice(0, i) + s + t.slice(i) }
      expectNamed(() => parseScenario(t), [ScenarioError], ['ERR_SCENARIO'], t.length)
    }), { numRuns: RUNS })
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`), 'steps: []'].join('\n')
    expect(() => parseScenario(bomb)).toThrow(ScenarioError)
    expect(() => parseScenario('['.repeat(5000) + ']'.repeat(5000))).toThrow(ScenarioError)
  })

  it('YAML that only parses with warnings (an unknown tag, an ambiguous alias) is refused, not reinterpreted and printed', () => {
    const warnings: unknown[] = []
    const listener = (w: unknown): void => { warnings.push(w) }
    process.on('warning', listener)
    try {
      expect(parseScenario('nodes: 3\nsteps: []').nodes).toBe(3)
      expect(() => parseScenario('nodes: 3\nsteps: !!nope []')).toThrow(expect.objectContaining({ code: 'ERR_SCENARIO' }))
      expect(() => parseScenario('nodes: &n 3\nsteps: [{ tick: { node: *n: 1 } }]')).toThrow(expect.objectContaining({ code: 'ERR_SCENARIO' }))
    } finally {
      process.off('warning', listener)
    }
    expect(warnings).toEqual([])
  })
})
