// Shapes of the API answers the dashboard reads (the fields it uses; see GET /v1/openapi.json).

export interface Member {
  peerId: string
  self: boolean
  connected: boolean
  zone: string | null
  reachability: 'reachable' | 'unreachable' | 'unknown'
  lastSeenAt: number | null
  raft: 'leader' | 'voter' | 'learner' | null
  syncLag: number | null
  rttMs: number | null
}

export interface HealthReport {
  status: 'ok' | 'degraded' | 'critical'
  reasons: Array<{ name: string, severity: string, message: string }>
  peers: { known: number, reachable: number, suspected: number, unreachable: number, left: number }
  partitions: Array<{ peers: string[], since: number, reachedBy: string[], confirmedBy: string[] }>
  raft: null | {
    role: string
    term: number
    leader: string | null
    commit: number
    quorum: { voters: number, needed: number, reachable: number, ok: boolean }
    members: Array<{ peerId: string, voter: boolean, leader: boolean, reachable: boolean, match: number | null, lag: number | null }>
  }
  alerts: Array<{ name: string, severity: string, message: string, since: number }>
}

/** Who reaches whom, from the reachability views peers gossip (when the daemon exposes them). */
export interface TopologyView {
  peers: Array<{ peerId: string, state?: string, reaches?: string[] | null }>
}

export interface Agent {
  id: string
  host: string
  capabilities: string[]
  health: string
  zone?: string
  load?: number
  updatedAt: number
  status?: string
  hostSilentMs?: number
  metadata?: Record<string, unknown>
  reportedHealth?: string
  checks?: Array<{ id: string, kind: string, status: string, output?: string, at?: number }>
}

export interface Auction {
  spec: { id: string, mechanism: string, items?: unknown[], reserve?: number, durationMs?: number }
  seller: string
  status: string
  openedAt: number
  closesAt: number | null
  bids: Array<{ agent: string, bid: unknown, escrowed?: number }>
  outcome?: null | { status: string, winners: Array<{ agent: string, items?: unknown[], quantity?: number, price: number }>, payments?: Record<string, number>, clearingPrice?: number }
}
