// The daemon's HTTP API as the dashboard calls it: same origin, the token in the Authorization header
// (never in a URL), JSON in and out, errors as ApiError with the API's stable code.

/** Where the token is kept for this tab (gone when the tab closes). */
const TOKEN_KEY = 'agora-dashboard-token'
/** Time a single API call may take before the page gives up on it. */
export const API_TIMEOUT_MS = 15_000

export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

let token: string | undefined = sessionStorage.getItem(TOKEN_KEY) ?? undefined

export function currentToken (): string | undefined { return token }

export function setToken (t: string | undefined): void {
  token = t
  if (t === undefined) sessionStorage.removeItem(TOKEN_KEY)
  else sessionStorage.setItem(TOKEN_KEY, t)
}

/**
 * Takes a token from `#token=<token>` (the link `agora start` and `agora dashboard` print), keeps it for
 * this tab and removes it from the address bar and history.
 */
export function tokenFromLocation (): void {
  const m = /(?:^#|[#&])token=([^&]+)/.exec(location.hash)
  if (m === null) return
  try { setToken(decodeURIComponent(m[1]!)) } catch { return }
  history.replaceState(null, '', location.pathname + location.search + '#/topology')
}

/** Listeners told when the daemon refuses the token (401): the page goes back to the login form. */
const unauthorizedListeners = new Set<() => void>()
export function onUnauthorized (f: () => void): () => void {
  unauthorizedListeners.add(f)
  return () => { unauthorizedListeners.delete(f) }
}

export function authHeaders (): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` }
}

export async function api<T> (path: string, init: { method?: string, body?: unknown, signal?: AbortSignal } = {}): Promise<T> {
  const signals = [AbortSignal.timeout(API_TIMEOUT_MS), ...(init.signal !== undefined ? [init.signal] : [])]
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers: { ...authHeaders(), accept: 'application/json', ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    signal: AbortSignal.any(signals),
    cache: 'no-store'
  })
  const text = await res.text()
  let json: unknown
  try { json = text.length > 0 ? JSON.parse(text) : undefined } catch { json = undefined }
  if (!res.ok) {
    const e = (json as { error?: { code?: string, message?: string } } | undefined)?.error
    if (res.status === 401) for (const f of unauthorizedListeners) f()
    throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `${res.status} ${res.statusText}`)
  }
  return json as T
}
