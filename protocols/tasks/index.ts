export { TaskMachine, TASK_STATES, admitTaskCommand, decodeTaskCommand } from './machine.js'
export * from './types.js'
