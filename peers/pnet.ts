/**
 * The private-network key (libp2p pnet): a 32-byte pre-shared key in the swarm.key format of libp2p and
 * IPFS. With one, every connection is wrapped in XSalsa20 keyed by it before anything else is said, so a
 * peer without the key cannot even complete the Noise handshake: it never learns our peer id, protocols
 * or mesh. The key does not replace Noise (which still authenticates each peer) nor the allowlist (which
 * admits peer ids); it keeps everyone outside the key holders off the wire.
 *
 * ```
 * /key/swarm/psk/1.0.0/
 * /base16/
 * <64 hex digits>
 * ```
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { chmod, open, rename, rm } from 'node:fs/promises'
import { InvalidOptionError } from '../src/base/errors.js'

export const SWARM_KEY_HEADER = '/key/swarm/psk/1.0.0/'
export const SWARM_KEY_CODEC = '/base16/'
/** Bytes of the key itself. */
export const SWARM_KEY_BYTES = 32

const GENERATE_HINT = 'generate one with `agora pnet-key <file>`'

/** A swarm key in its one canonical text form (lower-case hex, `\n` line ends, no trailing newline). */
export function formatSwarmKey (key: Uint8Array): string {
  if (key.length !== SWARM_KEY_BYTES) throw new RangeError(`a swarm key has ${SWARM_KEY_BYTES} bytes, not ${key.length}`)
  return `${SWARM_KEY_HEADER}\n${SWARM_KEY_CODEC}\n${Buffer.from(key).toString('hex')}`
}

/** A fresh random swarm key, as text (with a final newline, as written to a file). */
export function generateSwarmKey (): string {
  return formatSwarmKey(randomBytes(SWARM_KEY_BYTES)) + '\n'
}

/**
 * Checks swarm-key text and returns it in canonical form (the bytes handed to `@libp2p/pnet`, whose own
 * decoder checks neither the header nor the codec). `path` names the option in the InvalidOptionError;
 * the message never quotes the key.
 */
export function parseSwarmKey (text: string, path: string): string {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/)
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop()
  const fail = (why: string): never => { throw new InvalidOptionError(path, `not a swarm key: ${why} (${GENERATE_HINT})`) }
  if (lines.length !== 3) fail(`expected 3 lines (${SWARM_KEY_HEADER}, ${SWARM_KEY_CODEC}, 64 hex digits), got ${lines.length}`)
  const [header, codec, hex] = lines.map(l => l.trim()) as [string, string, string]
  if (header !== SWARM_KEY_HEADER) fail(`the first line must be ${SWARM_KEY_HEADER}`)
  if (codec !== SWARM_KEY_CODEC) fail(`the second line must be ${SWARM_KEY_CODEC} (the only encoding supported)`)
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) fail(`the third line must be ${SWARM_KEY_BYTES * 2} hex digits (${SWARM_KEY_BYTES} bytes), got ${hex.length} characters${/^[0-9a-fA-F]*$/.test(hex) ? '' : ' with non-hex ones'}`)
  return `${SWARM_KEY_HEADER}\n${SWARM_KEY_CODEC}\n${hex.toLowerCase()}`
}

/** Reads and checks a swarm key file; InvalidOptionError naming `path` if it is unreadable or not a key. */
export function readSwarmKeyFile (file: string, path: string): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new InvalidOptionError(path, `cannot read the swarm key file ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  return parseSwarmKey(text, path)
}

/**
 * A short fingerprint of a (canonical) swarm key: the first 16 hex digits of SHA-256 of its 32 bytes.
 * Safe to log, so operators can check that two peers hold the same key without showing it.
 */
export function swarmKeyFingerprint (canonical: string): string {
  const hex = canonical.slice(canonical.lastIndexOf('\n') + 1)
  return createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex').slice(0, 16)
}

/**
 * Writes a fresh swarm key to `file` with mode 0600 and returns its fingerprint. Refuses an existing file
 * (`ERR_INVALID_OPTION` naming `path`) unless `overwrite`, which replaces it atomically.
 */
export async function writeSwarmKeyFile (file: string, opts: { overwrite?: boolean, path?: string } = {}): Promise<string> {
  const path = opts.path ?? 'file'
  const text = generateSwarmKey()
  const target = opts.overwrite === true ? `${file}.${process.pid}.tmp` : file
  let handle
  try {
    handle = await open(target, 'wx', 0o600)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw new InvalidOptionError(path, `${JSON.stringify(file)} exists; not overwriting a key (pass --force to replace it)`)
    throw new InvalidOptionError(path, `cannot create ${JSON.stringify(file)}: ${code ?? (err as Error).message}`)
  }
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  // The umask can only take bits away from 0600; chmod anyway, in case the file system ignored the mode.
  await chmod(target, 0o600)
  if (target !== file) {
    try {
      await rename(target, file)
    } catch (err) {
      await rm(target, { force: true })
      throw new InvalidOptionError(path, `cannot replace ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  return swarmKeyFingerprint(parseSwarmKey(text, path))
}
