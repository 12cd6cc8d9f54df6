/**
 * libp2p's own debug logs. Its default logger (@libp2p/logger over weald) builds a debug instance for every
 * connection, stream and protocol negotiation (`newScope`), each checking whether stderr is a terminal:
 * ~4 % of an in-process mesh's CPU at rest, for logs that are off unless `DEBUG` names them. With `DEBUG`
 * unset or empty this peer gives libp2p a logger that is off and builds nothing; with `DEBUG` set,
 * libp2p's default logger, as before.
 */
import type { ComponentLogger, Logger } from '@libp2p/interface'

const off = (): void => {}
const SILENT: Logger = Object.assign(off, { error: off, trace: off, enabled: false, newScope: (): Logger => SILENT })

/** A logger that is off for every component. */
export const silentComponentLogger: ComponentLogger = { forComponent: () => SILENT }

/** The logger for libp2p: off unless `DEBUG` is set (undefined: libp2p's default). */
export function libp2pLogger (env: NodeJS.ProcessEnv = process.env): ComponentLogger | undefined {
  return (env.DEBUG ?? '') === '' ? silentComponentLogger : undefined
}
