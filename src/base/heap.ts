/**
 * A binary min-heap ordered by a strict `before(a, b)` (a total order, so ties never depend on insertion):
 * the deadline queues of the replicated state machines (coordination, tasks), which must pop due items in
 * the same order on every replica. Stale items are the caller's business (it checks them when popped).
 */
export class MinHeap<T> {
  private items: T[] = []
  constructor (private readonly before: (a: T, b: T) => boolean) {}

  get size (): number { return this.items.length }
  peek (): T | undefined { return this.items[0] }
  clear (): void { this.items = [] }

  push (x: T): void {
    const a = this.items
    a.push(x)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.before(a[i]!, a[p]!)) break
      ;[a[i], a[p]] = [a[p]!, a[i]!]
      i = p
    }
  }

  pop (): T | undefined {
    const a = this.items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last !== undefined) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && this.before(a[l]!, a[m]!)) m = l
        if (r < a.length && this.before(a[r]!, a[m]!)) m = r
        if (m === i) break
        ;[a[i], a[m]] = [a[m]!, a[i]!]
        i = m
      }
    }
    return top
  }
}
