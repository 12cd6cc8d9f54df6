/**
 * Three peers in one process over TCP on loopback: agents registered on each, found from another.
 *
 *   npm run demo
 */
import { createPeer } from '../../src/index.js'
import type { Peer } from '../../src/index.js'

async function main (): Promise<void> {
  const mesh = 'demo'
  // The first peer listens on a free loopback port; the others join through it.
  const alpha = await createPeer({ mesh, zone: 'eu-west' })
  const bootstrap = [alpha.addresses()[0]!]
  const beta = await createPeer({ mesh, zone: 'eu-west', bootstrap })
  const gamma = await createPeer({ mesh, zone: 'us-east', bootstrap })
  const peers: Peer[] = [alpha, beta, gamma]
  const name = (p: Peer): string => ['alpha', 'beta', 'gamma'][peers.indexOf(p)]!
  try {
    for (const p of peers) console.log(`${name(p)} is ${p.id} at ${p.addresses()[0]}`)
    await Promise.all([beta.whenSynced(), gamma.whenSynced()])

    await alpha.registry.register({ id: 'summarizer-1', capabilities: ['summarize', 'llm'], resources: { gpu: 1 }, load: 0.7 })
    await beta.registry.register({ id: 'summarizer-2', capabilities: ['summarize', 'llm'], resources: { gpu: 2 }, load: 0.2 })
    await beta.registry.register({ id: 'translator-1', capabilities: ['translate'], metadata: { languages: ['en', 'fr'] } })
    await gamma.registry.register({ id: 'planner-1', capabilities: ['plan'], health: 'degraded' })

    // Gamma sees everything once gossip delivers it.
    for (const id of ['summarizer-1', 'summarizer-2', 'translator-1']) {
      if (gamma.registry.lookup(id) === undefined) await gamma.registry.once('agent:joined', e => e.agent.id === id, 10_000)
    }
    console.log('\ngamma sees', gamma.registry.size, 'agents')
    const llms = gamma.registry.query({ capability: 'llm', where: [['resources.gpu', 'gte', 1]], orderBy: 'load' })
    for (const a of llms.agents) console.log(`  ${a.id} on ${name(peers.find(p => p.id === a.host)!)} zone=${a.zone} load=${a.load} gpu=${a.resources.gpu} ${a.status}`)
    const pick = gamma.registry.lookupWith('summarize', 'least-loaded')
    console.log('least-loaded summarizer:', pick?.id)

    // An eventual variable every peer contributes to.
    const temps = peers.map(p => p.variables.eventual<number>('team.temperature', { initial: 0.5, merge: 'max' }))
    await temps[0]!.set(0.7)
    await temps[2]!.set(0.9)
    if (temps[1]!.get() !== 0.9) await temps[1]!.once('variable:changed', e => e.value === 0.9, 10_000)
    console.log('team.temperature on beta:', temps[1]!.get())

    // An agent leaves; everyone sees it go.
    const left = alpha.registry.once('agent:left', e => e.agent.id === 'translator-1', 10_000)
    await beta.registry.unregister('translator-1')
    await left
    console.log('translator-1 left; alpha sees', alpha.registry.size, 'agents')
  } finally {
    await Promise.all(peers.map(async p => await p.stop()))
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
