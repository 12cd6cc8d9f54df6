/**
 * The storage compliance suite (storage-suite.ts) against the three DriverStorage implementations:
 *
 * | storage | survivesRestart | synchronous | tornCrash |
 * |---|---|---|---|
 * | MemoryDriverStorage (protocols/raft/driver.ts) | no | yes | no |
 * | DurableRaftStorage (peers/raft/storage.ts), a real LevelDB in a temp dir, closed and reopened | yes | no | no |
 * | SimDisk (sim/disk.ts): the disk outlives the node; a crash = a new driver over the same disk | yes | yes | yes |
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { MemoryDriverStorage, type DriverStorage } from '../../protocols/raft/driver.js'
import { MemoryStorage } from '../../protocols/raft/storage.js'
import { DurableRaftStorage } from '../../peers/raft/storage.js'
import { SimDisk, TornCrashError } from '../../sim/disk.js'
import { storageSuite } from './storage-suite.js'

storageSuite('memory', {
  claims: { survivesRestart: false, synchronous: true, tornCrash: false },
  create: async () => new MemoryDriverStorage(),
  cleanup: async () => {}
})

type Db = ClassicLevel<string, Uint8Array>
const opened = new Map<DriverStorage, { dir: string, db: Db }>()
const dirs: string[] = []

async function openDurable (dir: string): Promise<DurableRaftStorage> {
  const db: Db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' })
  await db.open()
  const s = await DurableRaftStorage.open(db)
  opened.set(s, { dir, db })
  return s
}

storageSuite('durable (LevelDB)', {
  claims: { survivesRestart: true, synchronous: false, tornCrash: false },
  create: async () => {
    const dir = await mkdtemp(join(tmpdir(), 'agora-storage-'))
    dirs.push(dir)
    return await openDurable(dir)
  },
  // A restart: the database is closed and a new storage is opened from what is on disk.
  restart: async (s) => {
    const o = opened.get(s)
    if (o === undefined) throw new Error('not a storage of this harness')
    await o.db.close()
    return await openDurable(o.dir)
  },
  cleanup: async () => {
    for (const { db } of opened.values()) if (db.status === 'open') await db.close()
    opened.clear()
    await Promise.all(dirs.splice(0).map(async d => { await rm(d, { recursive: true, force: true }) }))
  }
})

storageSuite('sim disk', {
  claims: { survivesRestart: true, synchronous: true, tornCrash: true },
  create: async () => new SimDisk(1, new MemoryStorage()),
  // The simulator's crash + restart: the node's driver and application go, its SimDisk stays.
  restart: async (s) => s,
  armTorn: (s) => { (s as SimDisk).tornArmed = true },
  tornError: TornCrashError,
  cleanup: async () => {}
})
