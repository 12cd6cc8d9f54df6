/** `fn` over `xs` with at most `limit` calls in flight; the results in the order of `xs`. */
export async function mapLimit<T, R> (xs: T[], limit: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(xs.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, xs.length) }, async () => {
    while (next < xs.length) { const i = next++; out[i] = await fn(xs[i]!, i) }
  }))
  return out
}
