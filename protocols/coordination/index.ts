export { CoordinationMachine, admitCoordCommand, decodeCoordCommand } from './machine.js'
export { COORD_TICK_RETRY_MS, coordTick } from './ticker.js'
export type { CoordTickInput } from './ticker.js'
export * from './types.js'
