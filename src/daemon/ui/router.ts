// Pages are addressed by the location's hash (#/agents/a1), so the daemon serves one document.
import { useEffect, useState } from 'preact/hooks'

export function currentRoute (): string {
  const h = location.hash
  return h.startsWith('#/') ? h.slice(1) : '/topology'
}

export function go (path: string): void {
  location.hash = `#${path}`
}

export function useRoute (): string {
  const [route, setRoute] = useState(currentRoute())
  useEffect(() => {
    const on = (): void => { setRoute(currentRoute()) }
    addEventListener('hashchange', on)
    return () => { removeEventListener('hashchange', on) }
  }, [])
  return route
}
