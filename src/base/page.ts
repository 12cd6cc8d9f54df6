/**
 * Keyset pages of listings served on the Raft client path (the dashboard's account, auction and
 * coordination listings): at most `limit` entries and at most {@link LISTING_PAGE_BYTES_MAX} bytes of
 * JSON (the read's answer travels in one client frame of 1 MiB, its text escaped once more), and the
 * cursor of the next page when more may follow.
 */

/** Entries one listing page holds at most (`limit` is clamped to it). */
export const LISTING_PAGE_MAX = 1000
/** Default entries of a page. */
export const LISTING_PAGE_DEFAULT = 100
/** JSON bytes of one page's entries at most (a page holds at least one entry whatever its size). */
export const LISTING_PAGE_BYTES_MAX = 256 * 1024

export interface ListingPage<T> {
  entries: T[]
  /** The cursor of the next page (the last entry's key), or null when this page ends the listing. */
  next: string | null
}

/**
 * A page of `keys` (already in listing order and past the cursor): each key rendered by `render`
 * (undefined skips it), at most `limit` entries and {@link LISTING_PAGE_BYTES_MAX} bytes.
 */
export function boundedPage<K, T> (keys: Iterable<K>, limit: number, render: (k: K) => T | undefined, cursorOf: (k: K) => string): ListingPage<T> {
  const max = Math.max(1, Math.min(LISTING_PAGE_MAX, Math.floor(limit)))
  const entries: T[] = []
  let bytes = 0
  let last: K | undefined
  for (const k of keys) {
    const v = render(k)
    if (v === undefined) continue
    if (entries.length >= max) return { entries, next: cursorOf(last as K) }
    const size = JSON.stringify(v).length + 1
    if (entries.length > 0 && bytes + size > LISTING_PAGE_BYTES_MAX) return { entries, next: cursorOf(last as K) }
    entries.push(v)
    bytes += size
    last = k
  }
  return { entries, next: null }
}

/**
 * Parses a listing read's argument `<limit>:<cursor>` (the cursor may hold colons; empty = from the
 * start); undefined when malformed.
 */
export function parseListingArg (arg: string): { limit: number, cursor: string } | undefined {
  const colon = arg.indexOf(':')
  if (colon < 1) return undefined
  const limit = arg.slice(0, colon)
  if (!/^[0-9]{1,4}$/.test(limit) || Number(limit) < 1) return undefined
  return { limit: Math.min(Number(limit), LISTING_PAGE_MAX), cursor: arg.slice(colon + 1) }
}
