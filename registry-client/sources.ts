// Org-approved sources: a list of registry/namespace prefixes that may be pulled. A prefix matches
// on path-segment boundaries: "registry.example.com/team" covers "registry.example.com/team/x"
// and "registry.example.com/team" itself, never "registry.example.com/team-evil/x". An empty or
// missing list allows everything.
import {RegistryClientError} from './errors.js'
import type {Reference} from './reference.js'

export class SourceNotAllowedError extends RegistryClientError {
  constructor(
    readonly reference: string,
    readonly setting: string,
    readonly allowed: readonly string[],
  ) {
    super('SOURCE_NOT_ALLOWED', `${reference} is not from an allowed source (${setting}: ${allowed.join(', ')})`)
  }
}

interface Prefix {
  registry: string
  path: string
}

function parsePrefix(prefix: string): Prefix {
  const trimmed = prefix.trim().replace(/\/+$/, '')
  const slash = trimmed.indexOf('/')
  if (slash < 0) return {registry: normaliseHost(trimmed), path: ''}
  return {registry: normaliseHost(trimmed.slice(0, slash)), path: trimmed.slice(slash + 1)}
}

function normaliseHost(host: string): string {
  const h = host.toLowerCase()
  return ['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'].includes(h) ? 'docker.io' : h
}

export function isAllowedSource(ref: Reference, allowed: readonly string[] | undefined): boolean {
  if (!allowed || allowed.length === 0) return true
  const registry = ref.registry.toLowerCase()
  return allowed.some((p) => {
    const prefix = parsePrefix(p)
    if (prefix.registry !== registry) return false
    return prefix.path === '' || ref.repository === prefix.path || ref.repository.startsWith(prefix.path + '/')
  })
}

/** Throws SourceNotAllowedError (naming the setting) when `ref` is outside `allowed`. */
export function checkAllowedSource(ref: Reference, allowed: readonly string[] | undefined, setting = 'kit.allowedSources'): void {
  if (!isAllowedSource(ref, allowed)) throw new SourceNotAllowedError(ref.toString(), setting, allowed ?? [])
}
