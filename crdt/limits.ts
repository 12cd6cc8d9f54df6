/**
 * Named limits of the replicated registry and variables. Every value can be overridden through the
 * peer's options (`limits`); these are the defaults. Units last in names.
 */
export interface RegistryLimits {
  /** Max encoded size of one agent descriptor (JSON bytes). */
  descriptorBytesMax: number
  /** Max agents one host peer may hold; beyond it `register` fails and remote extras are not indexed. */
  agentsPerHostMax: number
  /** Max capabilities per agent. */
  capabilitiesMax: number
  /** Max length of a capability, zone or resource name. */
  nameLengthMax: number
  /** Max number of resources per agent. */
  resourcesMax: number
  /** Max host peers whose documents this replica holds (of each kind). */
  hostsMax: number
  /** Max size of one signed update (a gossip message). */
  updateBytesMax: number
  /** Max size of one signed checkpoint (a whole host document). */
  checkpointBytesMax: number
  /** Out-of-order updates buffered per document while waiting for the missing ones. */
  pendingUpdatesPerDocMax: number
  /** Signed updates a relay keeps per document after its checkpoint (for anti-entropy relaying). */
  logUpdatesPerDocMax: number
  /** Bytes of signed updates a relay keeps per document after its checkpoint. */
  logBytesPerDocMax: number
  /**
   * Bytes one host document may take on a receiver: its latest signed checkpoint, the signed updates
   * applied after it and those waiting for a gap. A remote blob that would pass it is refused
   * (`doc-quota`) before it touches memory or disk; the host shows as over quota until a checkpoint
   * within the quota (its compaction) replaces the document. A host's own writes stop at half of it.
   */
  docBytesMax: number
  /**
   * Sustained bytes per second of signed blobs (updates and checkpoints, all its documents together)
   * accepted from one host, whoever relays them; beyond it they are refused (`rate-quota`) until the
   * allowance refills.
   */
  hostUpdateBytesPerSecondMax: number
  /** Bytes of a host's blobs accepted at once before {@link hostUpdateBytesPerSecondMax} applies (the bucket size). */
  hostUpdateBytesBurstMax: number
  /** Entries in one anti-entropy digest. */
  digestEntriesMax: number
  /** Default and max number of results of a query. */
  queryResultsMax: number
  /** Max `where` clauses in one query. */
  whereClausesMax: number
  /** Max eventual variables one host may contribute to. */
  variablesPerHostMax: number
  /** Max encoded size of one variable value (JSON bytes). */
  variableBytesMax: number
  /**
   * Max ms a clock time from another peer (an `lww` contribution's HLC time, a heartbeat's `sentAtMs`) may
   * be ahead of this peer's clock. Later ones are ignored (and counted): a host cannot stamp a write far
   * in the future to win every later write.
   */
  hlcDriftMsMax: number
}

export const DEFAULT_LIMITS: Readonly<RegistryLimits> = Object.freeze({
  descriptorBytesMax: 8 * 1024,
  agentsPerHostMax: 200_000,
  capabilitiesMax: 64,
  nameLengthMax: 128,
  resourcesMax: 64,
  hostsMax: 4096,
  updateBytesMax: 1024 * 1024,
  checkpointBytesMax: 256 * 1024 * 1024,
  pendingUpdatesPerDocMax: 1024,
  logUpdatesPerDocMax: 8192,
  logBytesPerDocMax: 64 * 1024 * 1024,
  docBytesMax: 64 * 1024 * 1024,
  hostUpdateBytesPerSecondMax: 4 * 1024 * 1024,
  hostUpdateBytesBurstMax: 64 * 1024 * 1024,
  digestEntriesMax: 2 * 4096,
  queryResultsMax: 1000,
  whereClausesMax: 16,
  variablesPerHostMax: 1024,
  variableBytesMax: 64 * 1024,
  hlcDriftMsMax: 60_000
})
