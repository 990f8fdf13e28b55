// Parsing references: [registry[:port]/]repository[:tag][@digest | @range].
//
// Tags are case-sensitive and kept as written; repositories must be lower case (an error, never
// silently lowered). Docker Hub's aliases (docker.io, index.docker.io, registry-1.docker.io) are
// one registry, whose API host is registry-1.docker.io and whose one-segment names live under
// library/. `name@^1.2` (anything after @ that is not a digest) is a semver range, resolved
// against the tag list by semver.ts.
import {isDigest} from './descriptor.js'
import {InvalidReferenceError} from './errors.js'

export const DOCKER_HUB = 'docker.io'
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'])
const DOCKER_HUB_API = 'registry-1.docker.io'

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^[\w][\w.-]{0,127}$/
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/

export class Reference {
  constructor(
    /** Registry host[:port] as the user names it ("docker.io" for Docker Hub). */
    readonly registry: string,
    /** Repository path ("team/my-mixin", "library/alpine"). */
    readonly repository: string,
    readonly tag?: string,
    readonly digest?: string,
    /** A semver range (`^1.2`, `~1.2.3`, `>=1 <2`), resolved against the tag list. */
    readonly range?: string,
  ) {}

  /** The host the API is served from (Docker Hub's differs from its name). */
  get apiHost(): string {
    return this.registry === DOCKER_HUB ? DOCKER_HUB_API : this.registry
  }

  /** registry/repository, without tag or digest. */
  get name(): string {
    return `${this.registry}/${this.repository}`
  }

  /** The tag or digest to ask the registry for (digest wins). */
  get reference(): string | undefined {
    return this.digest ?? this.tag
  }

  withTag(tag: string): Reference {
    return new Reference(this.registry, this.repository, tag, undefined, undefined)
  }

  withDigest(digest: string): Reference {
    return new Reference(this.registry, this.repository, undefined, digest, undefined)
  }

  toString(): string {
    let s = this.name
    if (this.tag !== undefined) s += `:${this.tag}`
    if (this.digest !== undefined) s += `@${this.digest}`
    else if (this.range !== undefined) s += `@${this.range}`
    return s
  }
}

export interface ParseOptions {
  /** Registry for names without one (e.g. "docker.io"); without it such names are errors. */
  defaultRegistry?: string
}

/** True when the first path component names a registry host (has a dot, a port, or is localhost). */
export function looksLikeHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component.startsWith('[')
}

export function parseReference(input: string, opts: ParseOptions = {}): Reference {
  const s = input.trim()
  if (s === '') throw new InvalidReferenceError(input, 'empty')
  let rest = s
  let digest: string | undefined
  let range: string | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    const after = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (after.startsWith('sha256:') || /^[a-z0-9]+:[a-f0-9]{32,}$/.test(after)) {
      if (!isDigest(after)) throw new InvalidReferenceError(input, `invalid digest ${JSON.stringify(after)} (sha256:<64 hex> expected)`)
      digest = after
    } else if (after.trim() === '') {
      throw new InvalidReferenceError(input, 'empty version range after "@"')
    } else {
      range = after.trim()
    }
  }
  let registry: string | undefined
  const slash = rest.indexOf('/')
  if (slash >= 0 && looksLikeHost(rest.slice(0, slash))) {
    registry = rest.slice(0, slash)
    rest = rest.slice(slash + 1)
    if (!HOST.test(registry)) throw new InvalidReferenceError(input, `invalid registry host ${JSON.stringify(registry)}`)
  }
  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon >= 0) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!TAG.test(tag)) throw new InvalidReferenceError(input, `invalid tag ${JSON.stringify(tag)}`)
  }
  if (tag !== undefined && range !== undefined) throw new InvalidReferenceError(input, 'a tag and a version range cannot both be given')
  if (rest === '') throw new InvalidReferenceError(input, 'missing repository')
  if (rest !== rest.toLowerCase()) throw new InvalidReferenceError(input, `repository ${JSON.stringify(rest)} must be lower case`)
  for (const part of rest.split('/')) {
    if (!COMPONENT.test(part)) throw new InvalidReferenceError(input, `invalid repository path component ${JSON.stringify(part)}`)
  }
  if (rest.length > 255) throw new InvalidReferenceError(input, 'repository name longer than 255 characters')
  if (registry === undefined) {
    if (opts.defaultRegistry === undefined) throw new InvalidReferenceError(input, 'no registry (expected host/repository)')
    registry = opts.defaultRegistry
  }
  if (DOCKER_HUB_ALIASES.has(registry.toLowerCase())) {
    registry = DOCKER_HUB
    if (!rest.includes('/')) rest = `library/${rest}`
  }
  return new Reference(registry, rest, tag, digest, range)
}

/** True for localhost / loopback registries, which default to plain HTTP (as docker does). */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.replace(/:\d+$/, '')
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}
