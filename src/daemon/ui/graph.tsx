// The topology graph: peers as nodes (coloured by zone, grey when unreachable), links between peers that
// reach each other; each connected group is pulled to its own place, so a partition shows as separate
// groups. Laid out with d3-force, run to rest off screen on each change (no animation loop).
import { forceCenter, forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY } from 'd3-force'
import type { SimulationLinkDatum, SimulationNodeDatum } from 'd3-force'
import type { JSX } from 'preact'
import { useMemo, useRef } from 'preact/hooks'

export interface GraphPeer { id: string, zone: string | null, reachable: boolean, self: boolean, raft: 'leader' | 'voter' | 'learner' | null, label?: string }
export interface GraphLink { a: string, b: string }

/** Steps the layout runs on each change (enough to settle 100 peers). */
const LAYOUT_TICKS = 160
/** Peers drawn at most (a larger mesh shows the first ones and says so). */
export const GRAPH_PEERS_MAX = 300

const PALETTE = ['#2563eb', '#059669', '#d97706', '#7c3aed', '#db2777', '#0891b2', '#65a30d', '#dc2626']

export function zoneColour (zone: string | null): string {
  if (zone === null) return '#475569'
  let h = 0
  for (let i = 0; i < zone.length; i++) h = (h * 31 + zone.charCodeAt(i)) >>> 0
  return PALETTE[h % PALETTE.length]!
}

interface Node extends SimulationNodeDatum { id: string, group: number }

/** Connected groups of peers (by the links), largest first: group numbers for the layout. */
export function groupsOf (peers: readonly GraphPeer[], links: readonly GraphLink[]): Map<string, number> {
  const parent = new Map<string, string>()
  for (const p of peers) parent.set(p.id, p.id)
  const find = (x: string): string => {
    let r = x
    while (parent.get(r) !== r) r = parent.get(r)!
    parent.set(x, r)
    return r
  }
  for (const l of links) if (parent.has(l.a) && parent.has(l.b)) parent.set(find(l.a), find(l.b))
  const sizes = new Map<string, number>()
  for (const p of peers) sizes.set(find(p.id), (sizes.get(find(p.id)) ?? 0) + 1)
  const order = [...sizes.entries()].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).map(e => e[0])
  const out = new Map<string, number>()
  for (const p of peers) out.set(p.id, order.indexOf(find(p.id)))
  return out
}

export function TopologyGraph (props: { peers: readonly GraphPeer[], links: readonly GraphLink[], onSelect?: (id: string) => void }): JSX.Element {
  const width = 720
  const height = 420
  const previous = useRef(new Map<string, { x: number, y: number }>())
  const peers = props.peers.slice(0, GRAPH_PEERS_MAX)
  const key = peers.map(p => `${p.id}:${p.reachable ? 1 : 0}`).join('|') + '#' + props.links.map(l => `${l.a}-${l.b}`).join('|')
  const layout = useMemo(() => {
    const groups = groupsOf(peers, props.links)
    const count = Math.max(0, ...groups.values()) + 1
    const nodes: Node[] = peers.map(p => {
      const prev = previous.current.get(p.id)
      return { id: p.id, group: groups.get(p.id) ?? 0, ...(prev !== undefined ? { x: prev.x, y: prev.y } : {}) }
    })
    const byId = new Map(nodes.map(n => [n.id, n]))
    const links: Array<SimulationLinkDatum<Node>> = props.links.filter(l => byId.has(l.a) && byId.has(l.b)).map(l => ({ source: l.a, target: l.b }))
    const anchor = (g: number): number => count === 1 ? width / 2 : width * (g + 0.5) / count
    const sim = forceSimulation(nodes)
      .force('link', forceLink<Node, SimulationLinkDatum<Node>>(links).id(n => n.id).distance(110).strength(0.5))
      .force('charge', forceManyBody().strength(-420))
      .force('collide', forceCollide(38))
      .force('x', forceX<Node>(n => anchor(n.group)).strength(count > 1 ? 0.35 : 0.05))
      .force('y', forceY(height / 2).strength(0.08))
      .stop()
    if (count === 1) sim.force('center', forceCenter(width / 2, height / 2))
    sim.tick(LAYOUT_TICKS)
    const pos = new Map<string, { x: number, y: number }>()
    for (const n of nodes) pos.set(n.id, { x: Math.max(24, Math.min(width - 24, n.x ?? width / 2)), y: Math.max(24, Math.min(height - 24, n.y ?? height / 2)) })
    previous.current = pos
    return pos
  }, [key])
  const reachable = peers.filter(p => p.reachable).length
  const leader = peers.find(p => p.raft === 'leader')
  const summary = `${peers.length} peers, ${reachable} reachable${leader !== undefined ? `, leader …${leader.id.slice(-8)}` : ', no leader known'}`
  return (
    <svg class='graph' viewBox={`0 0 ${width} ${height}`} role='img' aria-label={`Topology: ${summary}`} data-testid='topology-graph'>
      <title>{`Topology: ${summary}`}</title>
      {props.links.map(l => {
        const a = layout.get(l.a)
        const b = layout.get(l.b)
        if (a === undefined || b === undefined) return null
        return <line key={`${l.a}-${l.b}`} x1={a.x} y1={a.y} x2={b.x} y2={b.y} class='edge' />
      })}
      {peers.map(p => {
        const at = layout.get(p.id)
        if (at === undefined) return null
        const role = p.raft === 'leader' ? 'L' : p.raft === 'voter' ? 'V' : p.raft === 'learner' ? 'l' : ''
        return (
          <g key={p.id} class={`node${p.reachable ? '' : ' down'}${p.self ? ' self' : ''}${p.raft === 'leader' ? ' leader' : ''}`} transform={`translate(${at.x},${at.y})`}
            data-peer={p.id} data-reachable={p.reachable ? 'yes' : 'no'} data-raft={p.raft ?? 'none'} onClick={props.onSelect !== undefined ? () => props.onSelect!(p.id) : undefined}>
            <circle r={p.raft === 'leader' ? 15 : 12} fill={p.reachable ? zoneColour(p.zone) : '#cbd5e1'} />
            {role !== '' ? <text class='role' dy='4'>{role}</text> : null}
            <text class='label' dy='28'>{p.label ?? `…${p.id.slice(-6)}`}</text>
          </g>
        )
      })}
    </svg>
  )
}
