/**
 * The owner of the late-joiner bench (mesh.bench.ts) in a process of its own, as a mesh's peers run when
 * deployed: a peer that registers `LATE_OWNER_AGENTS` agents (the bench's descriptors) and compacts its
 * document, then prints one JSON line `{ "address": ... }` on stdout and serves joiners until its stdin
 * closes (the bench's end, or its death), when it stops.
 */
import { createPeer } from '../../peers/peer.js'

/** The late joiner's agents: the same descriptors in the bench's own owner and in this process. */
export function lateJoinerAgents (agents: number): Array<{ id: string, capabilities: string[], zone: string, resources: Record<string, number>, metadata: Record<string, unknown> }> {
  const batch = []
  for (let i = 0; i < agents; i++) {
    batch.push({ id: `agent-${i}`, capabilities: [`cap-${i % 1000}`, 'any'], zone: `z${i % 10}`, resources: { cpu: i % 16, mem: 1024 }, metadata: { n: i } })
  }
  return batch
}

async function main (agents: number): Promise<void> {
  const owner = await createPeer({ logLevel: 'silent', dht: false, limits: { agentsPerHostMax: agents + 10 } })
  await owner.registry.registerMany(lateJoinerAgents(agents))
  owner.replica.compact('reg')
  process.stdout.write(JSON.stringify({ address: owner.addresses()[0] }) + '\n')
  process.stdin.resume()
  await new Promise<void>(resolve => { process.stdin.once('close', resolve); process.stdin.once('end', resolve) })
  await owner.stop()
  process.exit(0)
}

if (process.env.LATE_OWNER_AGENTS !== undefined) await main(Number(process.env.LATE_OWNER_AGENTS))
