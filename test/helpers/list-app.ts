/** A tiny replicated state machine for driver tests: a list of strings; a command appends one. */
import type { StateMachine } from '../../protocols/raft/application.js'

const enc = new TextEncoder()
const dec = new TextDecoder()

/** A list of strings; a command appends one and returns the new length. */
export class ListApp implements StateMachine {
  items: string[] = []
  apply (command: Uint8Array): unknown {
    this.items.push(dec.decode(command))
    return this.items.length
  }

  snapshot (): Uint8Array { return enc.encode(JSON.stringify(this.items)) }
  restore (data: Uint8Array): void { this.items = JSON.parse(dec.decode(data)) as string[] }
}
