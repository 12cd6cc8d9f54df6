/**
 * A trace of the commit path's stages for benches and debugging (test/bench/raft-trace.ts): the driver,
 * the durable storage, the transport and the raw floor report each stage (a proposal, a Ready taken, a
 * write started and done, a frame sent and received...) to one sink, which stamps them. Off by default:
 * with no sink, a stage costs one check of an undefined binding. The driver and the core read no clock;
 * only the sink (a bench) does, and the simulator never sets one.
 */
export type RaftTraceSink = (node: number, stage: string) => void

/** The sink, if any (read it at each stage: `raftTrace?.(node, 'stage')`). */
export let raftTrace: RaftTraceSink | undefined

/** Sets (or clears, with undefined) the sink. */
export function setRaftTrace (sink: RaftTraceSink | undefined): void {
  raftTrace = sink
}
