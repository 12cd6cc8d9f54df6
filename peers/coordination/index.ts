export * from './service.js'
export * from './errors.js'
export { memberBackend, clientBackend } from './backend.js'
