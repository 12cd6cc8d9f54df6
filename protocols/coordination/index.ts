export { CoordinationMachine, admitCoordCommand, decodeCoordCommand } from './machine.js'
export * from './types.js'
