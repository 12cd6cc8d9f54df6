/**
 * The daemon's HTTP API as an OpenAPI 3.1 document, served at `GET /v1/openapi.json`.
 */
const json = (schema: Record<string, unknown>): Record<string, unknown> => ({ content: { 'application/json': { schema } } })
const ref = (name: string): Record<string, unknown> => ({ $ref: `#/components/schemas/${name}` })
const ok = (description: string, schema: Record<string, unknown> = { type: 'object' }): Record<string, unknown> => ({ 200: { description, ...json(schema) }, default: { description: 'error', ...json(ref('Error')) } })
const nameParam = { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9._:/-]{1,128}$' } }
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } }

export const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'agora-mesh daemon API', version: '1' },
  security: [{ bearer: [] }],
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the token in <dataDir>/http.token' } },
    schemas: {
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, path: { type: 'string' } } } } },
      AgentInput: {
        type: 'object',
        required: ['id'],
        properties: {
          id: { type: 'string' },
          capabilities: { type: 'array', items: { type: 'string' } },
          zone: { type: 'string' },
          resources: { type: 'object', additionalProperties: { type: 'number' } },
          health: { enum: ['healthy', 'degraded', 'unhealthy'] },
          metadata: { type: 'object' },
          load: { type: 'number', minimum: 0, maximum: 1 }
        }
      },
      Agent: { allOf: [{ $ref: '#/components/schemas/AgentInput' }, { type: 'object', properties: { host: { type: 'string' }, updatedAt: { type: 'number' }, status: { enum: ['reachable', 'unreachable'] }, hostSilentMs: { type: 'number' } } }] },
      QueryCriteria: {
        type: 'object',
        properties: {
          capability: { type: 'string' },
          health: { enum: ['healthy', 'degraded', 'unhealthy'] },
          host: { type: 'string' },
          zone: { type: 'string' },
          where: { type: 'array', items: { type: 'array', prefixItems: [{ type: 'string' }, { enum: ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'notIn', 'exists'] }, {}] } },
          orderBy: { oneOf: [{ type: 'string' }, { type: 'object', properties: { path: { type: 'string' }, desc: { type: 'boolean' } } }] },
          limit: { type: 'integer', minimum: 0 }
        }
      },
      QueryResult: { type: 'object', properties: { agents: { type: 'array', items: { $ref: '#/components/schemas/Agent' } }, truncated: { type: 'boolean' }, freshness: { type: 'object' } } }
    }
  },
  paths: {
    '/health': { get: { security: [], summary: 'liveness', responses: ok('alive') } },
    '/ready': { get: { summary: 'started, and a Raft leader is known when the peer runs Raft (503 otherwise)', responses: ok('ready') } },
    '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text format', content: { 'text/plain': {} } } } } },
    '/v1/status': { get: { summary: 'peer id, addresses, members, sync health, Raft status', responses: ok('status') } },
    '/v1/openapi.json': { get: { summary: 'this document', responses: ok('OpenAPI') } },
    '/v1/events': { get: { summary: 'Server-Sent Events: agent:*, variable:changed, raft:role, member:*, update:rejected', responses: { 200: { description: 'event stream', content: { 'text/event-stream': {} } } } } },
    '/v1/agents': {
      post: { summary: 'register an agent hosted by this daemon', requestBody: json(ref('AgentInput')), responses: { 201: { description: 'registered', ...json({ type: 'object', properties: { agent: ref('Agent') } }) }, default: { description: 'error', ...json(ref('Error')) } } },
      get: {
        summary: 'query by indexed fields',
        parameters: ['capability', 'zone', 'health', 'host', 'limit'].map(n => ({ name: n, in: 'query', schema: { type: n === 'limit' ? 'integer' : 'string' } })),
        responses: ok('result', ref('QueryResult'))
      }
    },
    '/v1/agents/query': { post: { summary: 'query with where clauses and ordering', requestBody: json(ref('QueryCriteria')), responses: ok('result', ref('QueryResult')) } },
    '/v1/agents/{id}': {
      get: { parameters: [idParam], summary: 'lookup', responses: ok('agent', { type: 'object', properties: { agent: ref('Agent') } }) },
      patch: { parameters: [idParam], summary: 'update an agent of this daemon', requestBody: json({ type: 'object' }), responses: ok('agent', { type: 'object', properties: { agent: ref('Agent') } }) },
      delete: { parameters: [idParam], summary: 'unregister an agent of this daemon', responses: ok('removed') }
    },
    '/v1/variables/eventual/{name}': {
      get: { parameters: [nameParam, { name: 'merge', in: 'query', schema: { enum: ['lww', 'max', 'min', 'counter', 'weighted-average'] } }, { name: 'initial', in: 'query', schema: { type: 'string', description: 'JSON' } }], summary: 'merged value', responses: ok('value') },
      put: { parameters: [nameParam], summary: 'set this host\'s contribution ({ value, merge, weight } or { add, merge: counter })', requestBody: json({ type: 'object' }), responses: ok('value') }
    },
    '/v1/variables/strong/{name}': {
      get: { parameters: [nameParam, { name: 'linearizable', in: 'query', schema: { type: 'boolean', default: true } }], summary: 'value (linearizable by default)', responses: ok('value') },
      put: { parameters: [nameParam], summary: 'set (exactly once, linearizable)', requestBody: json({ type: 'object', required: ['value'], properties: { value: {} } }), responses: ok('value') }
    },
    '/v1/variables/strong/{name}/cas': {
      post: { parameters: [nameParam], summary: 'compare-and-set', requestBody: json({ type: 'object', required: ['expected', 'value'], properties: { expected: {}, value: {} } }), responses: ok('swapped', { type: 'object', properties: { swapped: { type: 'boolean' } } }) }
    }
  }
} as const
