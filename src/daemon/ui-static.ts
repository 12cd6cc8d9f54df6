/**
 * The dashboard's static files (`GET /ui/`): built by `npm run build:ui` into `dist/ui` and shipped in the
 * package. They are read once, at start, from a fixed list of names into memory, so no path from a
 * request ever reaches the file system. They carry no secret and are served without the token; every
 * call the page makes to `/v1` carries `Authorization: Bearer` like any other client's.
 *
 * The page runs under a strict Content-Security-Policy: scripts, styles and connections only from this
 * origin, no inline script or style, no frames. It loads nothing from elsewhere, so it works offline.
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'

/** The files the dashboard is made of, and their media types. Nothing else under /ui is served. */
export const UI_FILES: ReadonlyMap<string, string> = new Map([
  ['index.html', 'text/html; charset=utf-8'],
  ['app.js', 'text/javascript; charset=utf-8'],
  ['app.css', 'text/css; charset=utf-8'],
  ['favicon.svg', 'image/svg+xml']
])

/** Headers on every dashboard file. */
export const UI_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache'
}

interface UiFile { body: Buffer, type: string, etag: string }

export interface UiAssets {
  /** Where the files were read from. */
  readonly dir: string
  readonly files: ReadonlyMap<string, UiFile>
}

/**
 * Reads the dashboard from `dir` (default: `dist/ui` of this package, found from the compiled file or from
 * the sources). Undefined when it was not built (index.html or app.js missing): `/ui` then answers 404
 * `ERR_UI_NOT_BUILT`, and the daemon runs as before.
 */
export function loadUi (dir?: string): UiAssets | undefined {
  const candidates = dir !== undefined
    ? [dir]
    : [fileURLToPath(new URL('../../ui/', import.meta.url)), fileURLToPath(new URL('../../dist/ui/', import.meta.url))]
  for (const d of candidates) {
    if (!existsSync(`${d}/index.html`) || !existsSync(`${d}/app.js`)) continue
    const files = new Map<string, UiFile>()
    for (const [name, type] of UI_FILES) {
      const path = `${d}/${name}`
      if (!existsSync(path)) continue
      const body = readFileSync(path)
      files.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` })
    }
    return { dir: d, files }
  }
  return undefined
}

/** Whether a request is for the dashboard (`/ui` or below). */
export function isUiPath (pathname: string): boolean {
  return pathname === '/ui' || pathname.startsWith('/ui/')
}

/**
 * Answers a dashboard request: `/ui` → 308 to `/ui/`, `/ui/` → index.html, `/ui/<file>` for the listed
 * files; anything else → `{ status, code, message }` for the caller's JSON error path.
 */
export function serveUi (ui: UiAssets | undefined, req: IncomingMessage, res: ServerResponse, pathname: string, search: string): { status: number, code: string, message: string } | undefined {
  const method = req.method ?? 'GET'
  if (method !== 'GET' && method !== 'HEAD') return { status: 405, code: 'ERR_METHOD_NOT_ALLOWED', message: `${method} ${pathname}: the dashboard is read with GET` }
  if (ui === undefined) return { status: 404, code: 'ERR_UI_NOT_BUILT', message: 'the dashboard was not built into this install (npm run build:ui)' }
  if (pathname === '/ui') {
    res.writeHead(308, { location: `/ui/${search}`, 'content-length': 0 })
    res.end()
    return undefined
  }
  const name = pathname === '/ui/' ? 'index.html' : pathname.slice('/ui/'.length)
  const file = ui.files.get(name)
  if (file === undefined) return { status: 404, code: 'ERR_NOT_FOUND', message: `no dashboard file ${pathname}` }
  if (req.headers['if-none-match'] === file.etag) {
    res.writeHead(304, { ...UI_HEADERS, etag: file.etag })
    res.end()
    return undefined
  }
  res.writeHead(200, { ...UI_HEADERS, 'content-type': file.type, 'content-length': file.body.length, etag: file.etag })
  res.end(method === 'HEAD' ? undefined : file.body)
  return undefined
}
