/**
 * What a daemon config asks of its peer (src/daemon/commands.ts `peerOptionsOf`): every key the config
 * shares with the peer's options is passed on as given, and the peer's option schema takes the result;
 * keys left out keep the peer's defaults.
 */
import { describe, expect, it } from 'vitest'
import { peerOptionsOf } from '../../src/daemon/commands.js'
import { validateConfig } from '../../src/daemon/config.js'
import { resolvePeerOptions } from '../../peers/options.js'

describe('daemon config → peer options', () => {
  it('passes dht and liveness on; left out, the peer keeps its defaults (dht on, heartbeat liveness)', () => {
    const off = resolvePeerOptions(peerOptionsOf(validateConfig({ dht: false, liveness: 'probe', heartbeatIntervalMs: 2000 }), undefined, 'json'))
    expect(off.dht).toBe(false)
    expect(off.liveness).toBe('probe')
    expect(off.heartbeatIntervalMs).toBe(2000)
    const on = resolvePeerOptions(peerOptionsOf(validateConfig({ dht: true }), undefined, 'json'))
    expect(on.dht).toBe(true)
    const plain = resolvePeerOptions(peerOptionsOf(validateConfig({}), undefined, 'json'))
    expect(plain.dht).toBe(true)
    expect(plain.liveness).toBe('heartbeat')
  })

  it('a dht that is not a boolean is refused, naming the key', () => {
    expect(() => validateConfig({ dht: 'off' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('dht') as string }) as Error)
  })

  it('a swarm key read from its file becomes the private network key', () => {
    const o = resolvePeerOptions(peerOptionsOf(validateConfig({}), '/key/swarm/psk/1.0.0/\n/base16/\n' + 'ab'.repeat(32) + '\n', 'human'))
    expect(o.privateNetwork?.key).toContain('/key/swarm/psk/1.0.0/')
  })
})
