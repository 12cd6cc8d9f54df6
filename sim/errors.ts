/** Errors of the simulator. */
import { AgoraError } from '../src/base/errors.js'

/**
 * A scenario file is malformed: unknown verb, node id out of range, a bad field. `details.step` is the
 * step index (or -1 for top-level fields) and `details.field` the field path. The CLI exits 2.
 */
export class ScenarioError extends AgoraError {
  static override readonly name = 'ScenarioError'
  constructor (step: number, field: string, message: string) {
    super('ERR_SCENARIO', step >= 0 ? `step ${step}: ${field}: ${message}` : `${field}: ${message}`, { step, field })
  }
}
