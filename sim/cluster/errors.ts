/**
 * Named errors of the multi-process harness (`agora sim cluster`). Each has a stable `code`; the CLI
 * prints name and code, and exits 2 for bad options ({@link InvalidOptionError}) and 1 for the rest.
 */
import { AgoraError } from '../../src/base/errors.js'

/** The harness needs root (network namespaces, veth links, bridges and `tc` need CAP_NET_ADMIN). */
export class ClusterNotRootError extends AgoraError {
  static override readonly name = 'ClusterNotRootError'
  constructor (uid: number) {
    super('ERR_CLUSTER_NOT_ROOT', `the cluster harness needs root to make network namespaces, veth links and netem qdiscs (running as uid ${uid})`, { uid })
  }
}

/** A tool the harness drives (`ip`, `tc`) is missing. */
export class ClusterToolMissingError extends AgoraError {
  static override readonly name = 'ClusterToolMissingError'
  constructor (tool: string, detail: string) {
    super('ERR_CLUSTER_TOOL_MISSING', `the cluster harness needs \`${tool}\` (iproute2): ${detail}`, { tool })
  }
}

/** A network command (`ip`, `tc`) failed; `details.command` is what ran. */
export class ClusterNetworkError extends AgoraError {
  static override readonly name = 'ClusterNetworkError'
  constructor (command: string, stderr: string) {
    super('ERR_CLUSTER_NETWORK', `\`${command}\` failed: ${stderr.trim().slice(0, 500)}`, { command })
  }
}

/** A peer process did not start (exited, or printed no `started` line in time). */
export class ClusterPeerStartError extends AgoraError {
  static override readonly name = 'ClusterPeerStartError'
  constructor (peer: number, detail: string) {
    super('ERR_CLUSTER_PEER_START', `peer ${peer} did not start: ${detail}`, { peer })
  }
}

/** A phase of the run did not reach its condition within its bound; `details.phase` names it. */
export class ClusterPhaseTimeoutError extends AgoraError {
  static override readonly name = 'ClusterPhaseTimeoutError'
  constructor (phase: string, timeoutMs: number, detail: string) {
    super('ERR_CLUSTER_PHASE_TIMEOUT', `${phase} did not complete within ${timeoutMs} ms: ${detail}`, { phase, timeoutMs })
  }
}

/** A peer's HTTP API answered an error or could not be reached. */
export class ClusterHttpError extends AgoraError {
  static override readonly name = 'ClusterHttpError'
  constructor (peer: number, what: string, detail: string) {
    super('ERR_CLUSTER_HTTP', `peer ${peer}: ${what}: ${detail.slice(0, 300)}`, { peer, what })
  }
}
