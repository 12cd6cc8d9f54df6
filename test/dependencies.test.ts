/**
 * Dependency hygiene (README, "Dependency hygiene"): every runtime dependency of package.json is imported
 * by the shipped code (src, peers, crdt, protocols, sim, examples), every package that code imports is a
 * declared runtime dependency, and every dev dependency is imported by the tests or is a named tool whose
 * use is checked. So an unused dependency cannot creep back, nor an undeclared one that only works
 * because another package pulls it in. The dashboard's front end (src/daemon/ui) is bundled at build time
 * into dist/ui: it imports only the dev dependencies listed as BUNDLED, never a runtime one.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const root = new URL('..', import.meta.url).pathname
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string, dependencies: Record<string, string>, devDependencies: Record<string, string>, scripts: Record<string, string>, engines: Record<string, string> }
const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as { compilerOptions: { types?: string[] } }

const SHIPPED = ['src', 'peers', 'crdt', 'protocols', 'sim', 'examples']
const SOURCE = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/
const SELF = join('test', 'dependencies.test.ts')
/** The dashboard's front-end sources: bundled by esbuild into dist/ui, not run by Node. */
const UI = join('src', 'daemon', 'ui')
/** Packages bundled into the dashboard (dev dependencies: the package ships their bundled copy in dist/ui). */
const BUNDLED = ['preact', 'd3-force']

function files (dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const p = join(dir, e.name)
    // This file is skipped: its scanner test holds sample imports of made-up packages.
    if (e.isDirectory()) { if (e.name !== 'node_modules' && e.name !== 'dist' && p !== UI) out.push(...files(p)) } else if (SOURCE.test(e.name) && p !== SELF) out.push(p)
  }
  return out
}

/** The package name of an import specifier (`@scope/name/sub` → `@scope/name`), undefined for relative paths and Node built-ins. */
export function packageOf (spec: string): string | undefined {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]!)) return undefined
  const parts = spec.split('/')
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

/** Import specifiers of a source text (static, dynamic, re-exports, require), comments ignored. */
export function importsOf (text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1')
  const out: string[] = []
  const re = /\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s+['"]([^'"]+)['"]/g
  for (const m of code.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3] ?? m[4])!)
  return out
}

function importedPackages (dirs: string[]): Map<string, string[]> {
  const used = new Map<string, string[]>()
  for (const f of dirs.flatMap(files)) {
    for (const spec of importsOf(readFileSync(join(root, f), 'utf8'))) {
      const p = packageOf(spec)
      if (p === undefined) continue
      used.set(p, [...(used.get(p) ?? []), f])
    }
  }
  return used
}

/** Dev dependencies used as tools, not imported: each with the check that it is used. */
const TOOLS: Record<string, () => boolean> = {
  typescript: () => Object.values(pkg.scripts).some(s => /\btsc\b/.test(s)),
  '@types/node': () => tsconfig.compilerOptions.types?.includes('node') === true,
  node: () => pkg.engines.node === '>=22', // the npm-installed Node 22 that runs the scripts (the system's may be older)
  esbuild: () => /\besbuild src\/daemon\/ui\/main\.tsx\b/.test(pkg.scripts['build:ui'] ?? '') && /npm run build:ui/.test(pkg.scripts.build ?? ''),
  '@types/d3-force': () => importedPackages([UI]).has('d3-force')
}

describe('dependency hygiene', () => {
  it('the import scanner finds every form of import and ignores comments', () => {
    const text = [
      "import a from 'pkg-a'", "import type { B } from '@scope/b/sub'", "export { c } from 'pkg-c/x.js'", "const d = await import('pkg-d')",
      "import 'pkg-e'", "import {\n  f,\n  g\n} from 'pkg-f'", "// import x from 'pkg-comment'", "/* from 'pkg-block' */", "const u = 'https://example.org/x' // from 'pkg-tail'",
      "import { h } from 'node:fs'", "import { i } from './local.js'", "import { j } from 'path'"
    ].join('\n')
    expect(importsOf(text).map(packageOf).filter(Boolean)).toEqual(['pkg-a', '@scope/b', 'pkg-c', 'pkg-d', 'pkg-e', 'pkg-f'])
  })

  it('every runtime dependency is imported by the shipped code, and it imports only declared runtime dependencies', () => {
    const used = importedPackages(SHIPPED)
    const unused = Object.keys(pkg.dependencies).filter(d => !used.has(d))
    expect(unused, 'dependencies never imported in ' + SHIPPED.join(', ')).toEqual([])
    const undeclared = [...used.keys()].filter(p => p !== pkg.name && pkg.dependencies[p] === undefined).map(p => `${p} (${used.get(p)![0]})`)
    expect(undeclared, 'imported but not a runtime dependency').toEqual([])
  })

  it('the dashboard imports only the bundled packages, each a dev dependency in use', () => {
    const used = importedPackages([UI])
    expect([...used.keys()].sort()).toEqual([...BUNDLED].sort())
    for (const b of BUNDLED) {
      expect(pkg.devDependencies[b], `${b} is bundled, so a dev dependency`).toBeDefined()
      expect(pkg.dependencies[b], `${b} is bundled, not a runtime dependency`).toBeUndefined()
    }
  })

  it('every dev dependency is imported by the tests or the dashboard, or is a tool in use', () => {
    const used = importedPackages(['test', UI])
    for (const spec of importsOf(readFileSync(join(root, 'vitest.config.ts'), 'utf8'))) {
      const name = packageOf(spec)
      if (name !== undefined) used.set(name, ['vitest.config.ts']) // not a builtin (node:os)
    }
    for (const d of Object.keys(pkg.devDependencies)) {
      const tool = TOOLS[d]
      if (tool !== undefined) expect(tool(), `${d} is listed as a tool but is not used as one`).toBe(true)
      else expect(used.has(d), `${d} is never imported by the tests`).toBe(true)
    }
    const undeclared = [...used.keys()].filter(p => p !== pkg.name && pkg.dependencies[p] === undefined && pkg.devDependencies[p] === undefined)
    expect(undeclared, 'imported by the tests but not declared').toEqual([])
  })
})
