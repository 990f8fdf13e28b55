// Provenance of a kit build: an in-toto statement with the SLSA provenance v1 predicate. It records
// the digests of the sources (spec.yaml and every file that reached the layer), the git commit when
// the kit directory is in a repository (and whether the tree had uncommitted changes), and the
// builder (`kit`). The statement's subject is the kit manifest, so it is signed and attached as a
// DSSE bundle exactly like a signature.
import {execFile} from 'node:child_process'
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {relative} from 'node:path'
import {promisify} from 'node:util'
import {type InTotoStatement, SLSA_PROVENANCE_PREDICATE, statementFor} from '../../registry-client/sign/statement.js'
import {loadKit, type LoadedKit} from '../load.js'

const run = promisify(execFile)

export const KIT_BUILD_TYPE = 'urn:kit:build-type:kit-build:v1'
export const KIT_BUILDER_ID = 'kit'

export interface ResourceDescriptor {
  name?: string
  uri?: string
  digest: Record<string, string>
  annotations?: Record<string, unknown>
}

export interface SlsaProvenance {
  buildDefinition: {
    buildType: string
    externalParameters: Record<string, unknown>
    internalParameters?: Record<string, unknown>
    resolvedDependencies: ResourceDescriptor[]
  }
  runDetails: {
    builder: {id: string}
    metadata?: {startedOn?: string; finishedOn?: string}
  }
}

export interface GitSource {
  commit: string
  /** The origin remote without credentials, when there is one. */
  remote?: string
  /** The kit directory relative to the repository root. */
  path: string
  /** Uncommitted changes under the kit directory. */
  dirty: boolean
}

export interface ProvenanceOptions {
  startedOn?: Date
  finishedOn?: Date
  /** An already loaded kit (saves a second scan). */
  kit?: LoadedKit
}

/** The provenance statement for the kit in `kitDir`, built as the manifest `digest` (`name` = its reference). */
export async function kitProvenance(kitDir: string, name: string, digest: string, opts: ProvenanceOptions = {}): Promise<InTotoStatement<SlsaProvenance>> {
  const kit = opts.kit ?? (await loadKit(kitDir))
  const deps: ResourceDescriptor[] = [{name: relative(kit.dir, kit.specPath), digest: {sha256: sha256Hex(kit.specBytes)}}]
  for (const f of kit.files) {
    if (f.type !== 'file' || !f.source) continue
    deps.push({name: f.sourceRel ?? f.path, digest: {sha256: await fileSha256(f.source)}})
  }
  const git = await gitSource(kit.dir)
  if (git) {
    const dep: ResourceDescriptor = {digest: {gitCommit: git.commit}, annotations: {path: git.path, dirty: git.dirty}}
    if (git.remote) dep.uri = `git+${git.remote}`
    deps.unshift(dep)
  }
  const external: Record<string, unknown> = {kit: {name: kit.spec.name, kind: kit.spec.kind, ...(kit.spec.version ? {version: kit.spec.version} : {})}}
  if (git) external.source = {git: {commit: git.commit, path: git.path, dirty: git.dirty, ...(git.remote ? {remote: git.remote} : {})}}
  const predicate: SlsaProvenance = {
    buildDefinition: {
      buildType: KIT_BUILD_TYPE,
      externalParameters: external,
      internalParameters: process.env.SOURCE_DATE_EPOCH ? {sourceDateEpoch: process.env.SOURCE_DATE_EPOCH} : {},
      resolvedDependencies: deps,
    },
    runDetails: {builder: {id: KIT_BUILDER_ID}},
  }
  if (opts.startedOn || opts.finishedOn) {
    predicate.runDetails.metadata = {
      ...(opts.startedOn ? {startedOn: opts.startedOn.toISOString()} : {}),
      ...(opts.finishedOn ? {finishedOn: opts.finishedOn.toISOString()} : {}),
    }
  }
  return statementFor(name, digest, SLSA_PROVENANCE_PREDICATE, predicate)
}

/** The git commit of the repository `dir` is in, or undefined when it is in none (or git is missing). */
export async function gitSource(dir: string): Promise<GitSource | undefined> {
  const git = async (...args: string[]): Promise<string | undefined> => {
    try {
      const {stdout} = await run('git', ['-C', dir, ...args], {timeout: 10_000, env: {...process.env, GIT_TERMINAL_PROMPT: '0'}})
      return stdout.trim()
    } catch {
      return undefined
    }
  }
  const commit = await git('rev-parse', '--verify', '-q', 'HEAD')
  if (!commit || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) return undefined
  const top = (await git('rev-parse', '--show-toplevel')) ?? dir
  const status = await git('status', '--porcelain', '--untracked-files=normal', '--', '.')
  const remote = await git('config', '--get', 'remote.origin.url')
  const out: GitSource = {commit, path: relative(top, dir) || '.', dirty: status === undefined ? true : status !== ''}
  const clean = remote ? withoutCredentials(remote) : undefined
  if (clean) out.remote = clean
  return out
}

/** A remote URL with any user:password@ removed (a token must never reach a signed statement). */
export function withoutCredentials(url: string): string | undefined {
  try {
    const u = new URL(url)
    u.username = ''
    u.password = ''
    return u.href
  } catch {
    // scp-like `git@host:path` carries no secret; anything else unparsable is left out.
    return /^[\w.-]+@[\w.-]+:[\w./~-]+$/.test(url) ? url : undefined
  }
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer)
  return h.digest('hex')
}
