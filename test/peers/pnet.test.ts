/**
 * The private-network key (peers/pnet.ts) and the admission options of `createPeer` without a network:
 * the swarm-key format checked line by line (errors name the option and never quote the key), key files
 * written with mode 0600 and never overwritten by accident, the `privateNetwork` and `allowlist` options'
 * validation, and PeerGate's decisions.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PeerGate } from '../../peers/node.js'
import { resolvePeerOptions } from '../../peers/options.js'
import { SWARM_KEY_CODEC, SWARM_KEY_HEADER, generateSwarmKey, parseSwarmKey, readSwarmKeyFile, swarmKeyFingerprint, writeSwarmKeyFile } from '../../peers/pnet.js'

let root: string
beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'agora-pnet-')) })
afterAll(async () => { await rm(root, { recursive: true, force: true }) })

const HEX = '0123456789abcdef'.repeat(4)
const KEY = `${SWARM_KEY_HEADER}\n${SWARM_KEY_CODEC}\n${HEX}`

async function newPeerId (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

describe('swarm keys', () => {
  it('a generated key is 32 random bytes in the swarm.key format, and parses to itself', () => {
    const a = generateSwarmKey()
    const b = generateSwarmKey()
    expect(a).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    expect(a).not.toBe(b)
    expect(parseSwarmKey(a, 'k')).toBe(a.trimEnd())
  })

  it('accepts CRLF line ends, a trailing newline, a BOM and upper-case hex, in one canonical form', () => {
    for (const text of [KEY, KEY + '\n', KEY.replace(/\n/g, '\r\n') + '\r\n', '\uFEFF' + KEY, KEY.replace(HEX, HEX.toUpperCase()), KEY + '\n\n  \n']) {
      expect(parseSwarmKey(text, 'k'), JSON.stringify(text)).toBe(KEY)
    }
  })

  it('refuses anything else with InvalidOptionError naming the option, without quoting the key', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /expected 3 lines/],
      [HEX, /expected 3 lines/],
      [`/key/swarm/psk/2.0.0/\n/base16/\n${HEX}`, /first line/],
      [`${SWARM_KEY_HEADER}\n/base64/\n${HEX}`, /second line/],
      [`${SWARM_KEY_HEADER}\n${SWARM_KEY_CODEC}\n${HEX.slice(2)}`, /64 hex digits .* got 62 characters/],
      [`${SWARM_KEY_HEADER}\n${SWARM_KEY_CODEC}\n${HEX}00`, /got 66 characters/],
      [`${SWARM_KEY_HEADER}\n${SWARM_KEY_CODEC}\n${HEX.slice(1)}z`, /non-hex/],
      [`${KEY}\nextra`, /expected 3 lines .*got 4/]
    ]
    for (const [text, message] of cases) {
      let err: unknown
      try { parseSwarmKey(text, 'privateNetwork.key') } catch (e) { err = e }
      expect(err, JSON.stringify(text)).toMatchObject({ name: 'InvalidOptionError', code: 'ERR_INVALID_OPTION', details: { path: 'privateNetwork.key' } })
      expect((err as Error).message, JSON.stringify(text)).toMatch(message)
      expect((err as Error).message).toMatch(/^privateNetwork\.key: not a swarm key/)
      expect((err as Error).message).not.toContain(HEX.slice(0, 16))
    }
  })

  it('the fingerprint depends on the key bytes only, not on how the text is written', () => {
    const fp = swarmKeyFingerprint(KEY)
    expect(fp).toMatch(/^[0-9a-f]{16}$/)
    expect(swarmKeyFingerprint(parseSwarmKey(KEY.replace(HEX, HEX.toUpperCase()) + '\r\n', 'k'))).toBe(fp)
    expect(swarmKeyFingerprint(generateSwarmKey().trimEnd())).not.toBe(fp)
    expect(fp).not.toBe(HEX.slice(0, 16))
  })

  it('writeSwarmKeyFile writes a valid key with mode 0600 and refuses an existing file unless told to overwrite', async () => {
    const file = join(root, 'swarm.key')
    const fp = await writeSwarmKeyFile(file, { path: '<file>' })
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const first = await readFile(file, 'utf8')
    expect(swarmKeyFingerprint(readSwarmKeyFile(file, 'k'))).toBe(fp)
    await expect(writeSwarmKeyFile(file, { path: '<file>' })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', details: { path: '<file>' }, message: expect.stringMatching(/exists/) })
    expect(await readFile(file, 'utf8')).toBe(first)
    // Overwriting replaces the file (a world-readable one becomes 0600) with another key.
    await writeFile(file, 'old', { mode: 0o644 })
    const fp2 = await writeSwarmKeyFile(file, { overwrite: true })
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(swarmKeyFingerprint(readSwarmKeyFile(file, 'k'))).toBe(fp2)
    await expect(writeSwarmKeyFile(join(root, 'no/such/dir/key'))).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', message: expect.stringMatching(/ENOENT/) })
  })

  it('readSwarmKeyFile names the option for a missing or malformed file', async () => {
    expect(() => readSwarmKeyFile(join(root, 'missing.key'), 'privateNetwork.keyFile')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', details: { path: 'privateNetwork.keyFile' }, message: expect.stringMatching(/cannot read .*ENOENT/) }))
    const bad = join(root, 'bad.key')
    await writeFile(bad, 'not a key\n')
    expect(() => readSwarmKeyFile(bad, 'privateNetwork.keyFile')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', details: { path: 'privateNetwork.keyFile' }, message: expect.stringMatching(/not a swarm key/) }))
  })
})

describe('createPeer options: privateNetwork and allowlist', () => {
  it('privateNetwork resolves to the canonical key, from the text or from a file', async () => {
    expect(resolvePeerOptions({}).privateNetworkKey).toBeUndefined()
    expect(resolvePeerOptions({ privateNetwork: { key: KEY + '\r\n' } }).privateNetworkKey).toBe(KEY)
    const file = join(root, 'opt.key')
    await writeFile(file, KEY.replace(HEX, HEX.toUpperCase()) + '\n', { mode: 0o600 })
    expect(resolvePeerOptions({ privateNetwork: { keyFile: file } }).privateNetworkKey).toBe(KEY)
  })

  it('bad privateNetwork options fail with InvalidOptionError naming the option', async () => {
    const file = join(root, 'opt-bad.key')
    await writeFile(file, `${SWARM_KEY_HEADER}\n${SWARM_KEY_CODEC}\nabc\n`)
    const cases: Array<[unknown, string]> = [
      [{}, 'privateNetwork'],
      [{ key: KEY, keyFile: file }, 'privateNetwork'],
      [{ key: '' }, 'privateNetwork.key'],
      [{ key: 'swarm' }, 'privateNetwork.key'],
      [{ keyFile: file }, 'privateNetwork.keyFile'],
      [{ keyFile: join(root, 'missing.key') }, 'privateNetwork.keyFile'],
      [{ psk: KEY }, 'privateNetwork.psk'],
      ['yes', 'privateNetwork']
    ]
    for (const [privateNetwork, path] of cases) {
      expect(() => resolvePeerOptions({ privateNetwork }), JSON.stringify(privateNetwork)).toThrow(expect.objectContaining({ name: 'InvalidOptionError', code: 'ERR_INVALID_OPTION', details: { path } }))
    }
  })

  it('allowlist entries must be peer ids, and the list not empty', async () => {
    const id = await newPeerId()
    expect(resolvePeerOptions({ allowlist: [id] }).allowlist).toEqual([id])
    expect(() => resolvePeerOptions({ allowlist: [id, 'abc'] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', details: { path: 'allowlist.1' }, message: expect.stringMatching(/not a libp2p peer id/) }))
    expect(() => resolvePeerOptions({ allowlist: [] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', details: { path: 'allowlist' }, message: expect.stringMatching(/empty allowlist/) }))
  })
})

describe('PeerGate', () => {
  it('without an allowlist admits every peer but the blocked ones', async () => {
    const [a, b] = [await newPeerId(), await newPeerId()]
    const gate = new PeerGate(undefined)
    expect(gate.denies(a)).toBe(false)
    expect(gate.denies(b)).toBe(false)
    gate.blocked.add(a)
    expect(gate.denies(a)).toBe(true)
    expect(gate.denies(b)).toBe(false)
    gate.blocked.delete(a)
    expect(gate.denies(a)).toBe(false)
  })

  it('with an allowlist admits only listed peers, and a block wins over the list', async () => {
    const [a, b, c] = [await newPeerId(), await newPeerId(), await newPeerId()]
    const gate = new PeerGate([a, b])
    expect([a, b, c].map(p => gate.denies(p))).toEqual([false, false, true])
    gate.blocked.add(b)
    expect([a, b, c].map(p => gate.denies(p))).toEqual([false, true, true])
    gate.blocked.delete(b)
    expect(gate.denies(b)).toBe(false)
  })

  it('takes PeerId objects as well as strings', async () => {
    const key = await generateKeyPair('Ed25519')
    const listed = peerIdFromPrivateKey(key)
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const gate = new PeerGate([listed.toString()])
    expect(gate.denies(listed)).toBe(false)
    expect(gate.denies(other)).toBe(true)
    // The list is copied: changing the caller's array later changes nothing.
    const list = [listed.toString()]
    const copy = new PeerGate(list)
    list.push(other.toString())
    expect(copy.denies(other)).toBe(true)
  })
})
