// Semver tags. Publishing x.y.z also moves x.y, x and latest, but only forward (never to a version
// older than one already published under them); prereleases move none. `+build` is not allowed in
// a tag, so it becomes `_build` (the manifest's annotation keeps the real version). Ranges
// (`^1.2`, `~1.2.3`, `>=1 <2`) resolve to the newest matching exact-version tag.
import semver from 'semver'
import {RegistryClientError} from './errors.js'

/** The tag for a version: "1.2.3+build.5" → "1.2.3_build.5". */
export function tagForVersion(version: string): string {
  return version.replace(/\+/g, '_')
}

/** The version a tag stands for, when it is an exact semver version ("1.2.3", "1.2.3_b1"); else undefined. */
export function versionOfTag(tag: string): string | undefined {
  if (!/^\d/.test(tag)) return undefined
  const candidate = tag.replace(/_/g, '+')
  if (candidate.split('+').length > 2) return undefined
  const parsed = semver.parse(candidate)
  return parsed && parsed.raw === candidate ? candidate : undefined
}

/**
 * Tags that are not versions of the kit: sbx's GC anchor tags (`_kit_<tag>`, pushed beside a kit
 * tag) and referrer / signature fallback tags (`sha256-<hex>`, `sha256-<hex>.sig`).
 */
export function isHousekeepingTag(tag: string): boolean {
  return tag.startsWith('_kit_') || /^sha256-[a-f0-9]{64}(\..+)?$/.test(tag)
}

/**
 * Why pushing a kit of version `declared` (its spec.yaml version) to `tag` is suspicious, or
 * undefined: a tag that reads as a version (1.4.2, v1.4.2, or a moving 1.4 / 1) should be that
 * version or a prefix of it; other tags (latest, dev) say nothing about the version.
 */
export function tagVersionMismatch(tag: string, declared: string | undefined): string | undefined {
  if (!declared || !/^v?\d/.test(tag)) return undefined
  const bare = tag.replace(/^v/, '')
  const exact = tagForVersion(declared)
  if (bare === exact || exact.startsWith(`${bare}.`)) return undefined
  return `tag ${tag} does not match the kit's version ${declared} (spec.yaml version:); sbx publishers keep them aligned`
}

/** True for a string that looks like a range rather than a tag. */
export function isRange(value: string): boolean {
  return semver.validRange(value) !== null && versionOfTag(value) === undefined
}

/**
 * The tags a push of `version` should set, given the tags the repository has: the exact tag
 * first, then whichever of x.y, x and latest this version does not move backwards.
 */
export function publishTags(version: string, existingTags: readonly string[]): {exact: string; moving: string[]} {
  const v = semver.parse(version)
  if (!v) throw new RegistryClientError('INVALID_VERSION', `${JSON.stringify(version)} is not a semver version`)
  const exact = tagForVersion(version)
  if (v.prerelease.length > 0) return {exact, moving: []}
  const stable = existingTags
    .map(versionOfTag)
    .filter((t): t is string => t !== undefined)
    .map((t) => semver.parse(t)!)
    .filter((p) => p.prerelease.length === 0)
  const newest = (filter: (p: semver.SemVer) => boolean) =>
    stable.filter(filter).reduce<semver.SemVer | undefined>((max, p) => (max === undefined || semver.gt(p, max) ? p : max), undefined)
  const moving: string[] = []
  const forward = (max: semver.SemVer | undefined) => max === undefined || semver.gte(v, max)
  if (forward(newest((p) => p.major === v.major && p.minor === v.minor))) moving.push(`${v.major}.${v.minor}`)
  if (forward(newest((p) => p.major === v.major))) moving.push(`${v.major}`)
  if (forward(newest(() => true))) moving.push('latest')
  return {exact, moving}
}

/** The newest exact-version tag satisfying `range` ("^1.2"), or undefined. */
export function resolveRange(range: string, tags: readonly string[]): {tag: string; version: string} | undefined {
  if (semver.validRange(range) === null) throw new RegistryClientError('INVALID_VERSION', `${JSON.stringify(range)} is not a semver range`)
  let best: {tag: string; version: string; parsed: semver.SemVer} | undefined
  for (const tag of tags) {
    const version = versionOfTag(tag)
    if (version === undefined || !semver.satisfies(version, range)) continue
    const parsed = semver.parse(version)!
    // Equal precedence (builds differ): keep the later tag in lexical order, so it is stable.
    if (!best || semver.gt(parsed, best.parsed) || (semver.eq(parsed, best.parsed) && tag > best.tag)) best = {tag, version, parsed}
  }
  return best && {tag: best.tag, version: best.version}
}
