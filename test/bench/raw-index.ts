/**
 * The raw baseline of the registry benches: the same agents in plain objects and Maps of Sets (by id,
 * capability, capability + zone, nested), with hand-written filters and no validation, fed from a bare
 * Y.Doc's map (one observer). What our index is measured against (registry and mesh benches).
 */
import type * as Y from 'yjs'

/** A plain agent object of the raw baseline. */
export interface RawAgent {
  id: string
  capabilities: string[]
  zone: string | undefined
  resources: Record<string, number>
  health: string
  load: number | undefined
  metadata: unknown
  updatedAt: number
}

/**
 * The raw baseline: the same data in plain objects and Maps of Sets (by id, capability, capability +
 * zone, nested), with hand-written filters and no validation, fed from a bare Y.Doc's map (one observer).
 */
export class RawIndex {
  readonly byId = new Map<string, RawAgent>()
  readonly byCap = new Map<string, Set<RawAgent>>()
  readonly byCapZone = new Map<string, Map<string, Set<RawAgent>>>()

  upsert (id: string, v: Record<string, unknown> | undefined): void {
    const old = this.byId.get(id)
    if (old !== undefined) {
      this.byId.delete(id)
      for (const c of old.capabilities) {
        this.byCap.get(c)?.delete(old)
        if (old.zone !== undefined) this.byCapZone.get(c)?.get(old.zone)?.delete(old)
      }
    }
    if (v === undefined) return
    const r: RawAgent = {
      id,
      capabilities: v.capabilities as string[],
      zone: v.zone as string | undefined,
      resources: v.resources as Record<string, number>,
      health: v.health as string,
      load: v.load as number | undefined,
      metadata: v.metadata,
      updatedAt: v.updatedAt as number
    }
    this.byId.set(id, r)
    for (const c of r.capabilities) {
      let s = this.byCap.get(c)
      if (s === undefined) { s = new Set(); this.byCap.set(c, s) }
      s.add(r)
      if (r.zone !== undefined) {
        let zones = this.byCapZone.get(c)
        if (zones === undefined) { zones = new Map(); this.byCapZone.set(c, zones) }
        let z = zones.get(r.zone)
        if (z === undefined) { z = new Set(); zones.set(r.zone, z) }
        z.add(r)
      }
    }
  }

  /** Follows `doc`'s `agents` map: every change re-indexes its keys. */
  follow (doc: Y.Doc): void {
    const m = doc.getMap<Record<string, unknown>>('agents')
    m.observe((e) => { for (const id of e.keysChanged) this.upsert(id, m.get(id)) })
  }

  capability (cap: string, limit: number): { agents: RawAgent[], truncated: boolean } {
    const out: RawAgent[] = []
    let truncated = false
    for (const r of this.byCap.get(cap) ?? []) {
      if (out.length === limit) { truncated = true; break }
      out.push(r)
    }
    return { agents: out, truncated }
  }

  capabilityZoneGpu (cap: string, zone: string, gpuMin: number, limit: number): { agents: RawAgent[], truncated: boolean } {
    const out: RawAgent[] = []
    let truncated = false
    for (const r of this.byCapZone.get(cap)?.get(zone) ?? []) {
      if (!((r.resources.gpu ?? -Infinity) >= gpuMin)) continue
      if (out.length === limit) { truncated = true; break }
      out.push(r)
    }
    return { agents: out, truncated }
  }
}
