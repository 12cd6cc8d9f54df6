export { TaskMachine, TASK_QUERY_BYTES_MAX, TASK_STATES, admitTaskCommand, decodeTaskCommand } from './machine.js'
export * from './types.js'
