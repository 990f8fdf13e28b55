// kits.yaml → kits.lock.json. kits.yaml lists references (tags, digests or semver ranges):
//
//   kits:
//     - registry.example.com/team/my-mixin@^1.4
//     - registry.example.com/team/agent:2.0.0
//
// (a bare list, and entries written {ref: ...}, are read too). The lockfile maps each reference as
// written to {version, resolved: "<repo>@sha256:...", integrity: "sha256-<base64>"} with sorted
// keys. Entries are objects so later fields (a permission surface, an approval) can join them.
// Locking keeps entries already locked unless `update`; `frozen` fails on any change.
import {access, readFile} from 'node:fs/promises'
import {dirname, join} from 'node:path'
import type {Node} from 'yaml'
import {atomicWrite} from './atomic.js'
import {isDigest} from './descriptor.js'
import {RegistryClientError} from './errors.js'
import {parseReference} from './reference.js'

export const LOCKFILE_NAME = 'kits.lock.json'
export const LOCKFILE_VERSION = 1

export interface LockEntry {
  version: string | null
  resolved: string
  integrity: string
  [extra: string]: unknown
}

export interface Lockfile {
  lockfileVersion: number
  kits: Record<string, LockEntry>
}

export class KitsFileError extends RegistryClientError {
  constructor(readonly file: string, readonly line: number, readonly column: number, message: string) {
    super('INVALID_KITS_FILE', `${file}:${line}:${column}: ${message}`)
  }
}

export class LockfileError extends RegistryClientError {
  constructor(code: string, message: string) {
    super(code, message)
  }
}

/** "sha256:<hex>" → SRI "sha256-<base64>". */
export function integrityOf(digest: string): string {
  if (!isDigest(digest)) throw new LockfileError('INVALID_LOCKFILE', `invalid digest ${digest}`)
  return 'sha256-' + Buffer.from(digest.slice(7), 'hex').toString('base64')
}

/** The lockfile path for a kits file: kits.lock.json beside it. */
export function lockfilePathFor(kitsFile: string): string {
  return join(dirname(kitsFile), LOCKFILE_NAME)
}

/** Reads the references of a kits.yaml, in order, each checked to parse. */
export async function readKitsFile(path: string): Promise<string[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new KitsFileError(path, 1, 1, 'no such file')
    throw err
  }
  // yaml loads here only: the lockfile is JSON, and `kit pull` (which imports this module) should
  // not carry the parser in its start-up and heap.
  const {isMap, isScalar, isSeq, LineCounter, parseDocument} = await import('yaml')
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, {lineCounter, prettyErrors: false})
  const at = (node: Node | null | undefined, message: string): never => {
    const pos = lineCounter.linePos(node?.range?.[0] ?? 0)
    throw new KitsFileError(path, pos.line, pos.col, message)
  }
  if (doc.errors.length > 0) {
    const e = doc.errors[0]
    const pos = e.linePos?.[0] ?? {line: 1, col: 1}
    throw new KitsFileError(path, pos.line, pos.col, e.message.split('\n')[0])
  }
  let list: Node | null | undefined = doc.contents as Node | null
  if (isMap(list)) {
    for (const pair of list.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : ''
      if (key !== 'kits') at(pair.key as Node, `unknown key ${JSON.stringify(key)} (expected "kits")`)
    }
    list = list.get('kits', true) as Node | undefined
    if (list === undefined) at(doc.contents as Node, 'missing "kits"')
  }
  if (list === null || list === undefined) return []
  if (!isSeq(list)) return at(list, 'expected a list of kit references')
  const refs: string[] = []
  for (const item of list.items as Node[]) {
    let value: unknown
    let node: Node = item
    if (isScalar(item)) value = item.value
    else if (isMap(item)) {
      const ref = item.get('ref', true) ?? item.get('reference', true)
      if (!isScalar(ref)) at(item, 'expected {ref: <reference>}')
      node = ref as Node
      value = (ref as {value: unknown}).value
    }
    if (typeof value !== 'string' || value.trim() === '') at(node, 'expected a kit reference string')
    try {
      parseReference(value as string)
    } catch (err) {
      at(node, (err as Error).message)
    }
    if (refs.includes(value as string)) at(node, `duplicate reference ${value}`)
    refs.push(value as string)
  }
  return refs
}

export async function readLockfile(path: string): Promise<Lockfile | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  let value: Lockfile
  try {
    value = JSON.parse(text) as Lockfile
  } catch (err) {
    throw new LockfileError('INVALID_LOCKFILE', `${path}: not valid JSON: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || typeof value.kits !== 'object' || value.kits === null) {
    throw new LockfileError('INVALID_LOCKFILE', `${path}: expected {"lockfileVersion", "kits": {...}}`)
  }
  for (const [ref, entry] of Object.entries(value.kits)) checkEntry(path, ref, entry)
  return value
}

/** A lock entry must be self-consistent: resolved names a digest, integrity is that digest. */
export function checkEntry(path: string, ref: string, entry: LockEntry): void {
  const fail = (why: string): never => {
    throw new LockfileError('INVALID_LOCKFILE', `${path}: ${ref}: ${why}`)
  }
  if (!entry || typeof entry !== 'object') fail('entry is not an object')
  if (typeof entry.resolved !== 'string') fail('missing "resolved"')
  let digest: string | undefined
  try {
    digest = parseReference(entry.resolved).digest
  } catch (err) {
    fail((err as Error).message)
  }
  if (digest === undefined) fail(`"resolved" must be <repository>@sha256:..., got ${entry.resolved}`)
  if (entry.integrity !== integrityOf(digest!)) fail(`"integrity" does not match the digest in "resolved"`)
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    )
  }
  return value
}

export function serializeLockfile(lock: Lockfile): string {
  return JSON.stringify(sortKeys(lock), null, 2) + '\n'
}

export interface LockChange {
  reference: string
  kind: 'added' | 'removed' | 'changed'
  from?: string
  to?: string
}

export interface LockOptions {
  /** Re-resolve every reference, not only new ones. */
  update?: boolean
  /** Fail (LOCKFILE_OUT_OF_DATE) instead of writing when anything would change. */
  frozen?: boolean
  /** Where the lockfile is (default kits.lock.json beside the kits file). */
  lockfile?: string
  /** Resolves one reference to {version, resolved (repo@digest), digest}. */
  resolve: (reference: string) => Promise<{version?: string; resolved: string; digest: string}>
  /** Builds the entry to store (issue 6 adds fields here); default {version, resolved, integrity}. */
  entry?: (reference: string, fresh: LockEntry, previous: LockEntry | undefined) => Promise<LockEntry> | LockEntry
}

export interface LockResult {
  path: string
  lockfile: Lockfile
  changes: LockChange[]
  written: boolean
}

/** Resolves a kits file into its lockfile. */
export async function lockKits(kitsFile: string, opts: LockOptions): Promise<LockResult> {
  const path = opts.lockfile ?? lockfilePathFor(kitsFile)
  const refs = await readKitsFile(kitsFile)
  const previous = (await readLockfile(path)) ?? {lockfileVersion: LOCKFILE_VERSION, kits: {}}
  const next: Lockfile = {lockfileVersion: LOCKFILE_VERSION, kits: {}}
  const changes: LockChange[] = []
  for (const ref of refs) {
    const old = previous.kits[ref]
    if (old && !opts.update) {
      next.kits[ref] = old
      continue
    }
    if (!old && opts.frozen) {
      changes.push({reference: ref, kind: 'added'})
      continue
    }
    const r = await opts.resolve(ref)
    const fresh: LockEntry = {version: r.version ?? null, resolved: r.resolved, integrity: integrityOf(r.digest)}
    const entry = opts.entry ? await opts.entry(ref, fresh, old) : old && old.resolved === fresh.resolved ? {...old, ...fresh} : fresh
    next.kits[ref] = entry
    if (!old) changes.push({reference: ref, kind: 'added', to: entry.resolved})
    else if (serializeLockfile({lockfileVersion: 1, kits: {x: old}}) !== serializeLockfile({lockfileVersion: 1, kits: {x: entry}})) {
      changes.push({reference: ref, kind: 'changed', from: old.resolved, to: entry.resolved})
    }
  }
  for (const ref of Object.keys(previous.kits)) {
    if (!refs.includes(ref)) changes.push({reference: ref, kind: 'removed', from: previous.kits[ref].resolved})
  }
  if (previous.lockfileVersion !== LOCKFILE_VERSION && changes.length === 0 && Object.keys(previous.kits).length > 0) {
    changes.push({reference: '(lockfileVersion)', kind: 'changed'})
  }
  changes.sort((a, b) => (a.reference < b.reference ? -1 : a.reference > b.reference ? 1 : 0))
  if (opts.frozen) {
    if (changes.length > 0) {
      const list = changes.map((c) => `${c.reference} (${c.kind})`).join(', ')
      throw new LockfileError('LOCKFILE_OUT_OF_DATE', `${path} is out of date with ${kitsFile} and --frozen-lockfile was given: ${list}`)
    }
    return {path, lockfile: previous, changes, written: false}
  }
  const text = serializeLockfile(next)
  const before = await readFile(path, 'utf8').catch(() => undefined)
  const written = before !== text
  if (written) await atomicWrite(path, text)
  return {path, lockfile: next, changes, written}
}

/** The kits file a lockfile belongs to: kits.yaml beside it. */
export const KITS_FILE_NAME = 'kits.yaml'

/**
 * `pull --frozen-lockfile`: the kits.yaml beside the lockfile (when there is one) must have no
 * reference the lockfile lacks; the error names them all.
 */
export async function checkKitsFileLocked(lockfilePath: string, lock: Lockfile): Promise<void> {
  const kitsFile = join(dirname(lockfilePath), KITS_FILE_NAME)
  if (!(await access(kitsFile).then(() => true, () => false))) return
  const missing = (await readKitsFile(kitsFile)).filter((ref) => lock.kits[ref] === undefined)
  if (missing.length > 0) {
    throw new LockfileError('LOCKFILE_OUT_OF_DATE', `${lockfilePath} lacks ${missing.length === 1 ? 'an entry' : `${missing.length} entries`} of ${kitsFile} and --frozen-lockfile was given: ${missing.join(', ')} (run kit lock)`)
  }
}

/** The lock entry for `reference` ("as written" key, or an entry whose resolved repo matches). */
export function findLocked(lock: Lockfile, reference: string): [string, LockEntry] | undefined {
  if (lock.kits[reference]) return [reference, lock.kits[reference]]
  for (const [key, entry] of Object.entries(lock.kits)) {
    if (entry.resolved === reference) return [key, entry]
  }
  return undefined
}
