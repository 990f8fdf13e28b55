// Kit resolution for `kit run`: each kit named on the command line is a kit directory, a reference
// in the local store (`name:tag`, `name@sha256:…`), or a registry reference (pulled into the store
// first, within the allowed sources). A store artifact is materialised once per manifest digest as
// a kit directory (spec.yaml = the config blob bytes; layer `home/agent/X` → `files/home/X`,
// `workspace/X` → `files/workspace/X`) and then loaded by loadKit like any directory, so launch
// has one code path whatever the source.
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile} from 'node:fs/promises'
import {basename, isAbsolute, join, resolve} from 'node:path'
import {createGunzip} from 'node:zlib'
import tar from 'tar-stream'
import {parse as parseYaml} from 'yaml'
import {parseKitArgFlags} from '../../kit-compiler/args.js'
import {fetchZipKit, readKitArtifact, storeRef} from '../../kit-compiler/artifact.js'
import {composeKits, type ComposedSandbox, type Conflict} from '../../kit-compiler/compose.js'
import {loadKit, type LoadedKit} from '../../kit-compiler/load.js'
import {resolveExtends, type ParentResolver} from '../../kit-compiler/extends.js'
import {digestHex, isDigest} from '../../registry-client/descriptor.js'
import {NotFoundError} from '../../registry-client/errors.js'
import type {OciLayoutStore} from '../../registry-client/layout-store.js'
import {pull} from '../../registry-client/pull.js'
import {looksLikeHost, parseReference} from '../../registry-client/reference.js'
import {cacheDir} from '../home.js'
import {entryPath} from '../image/unpack.js'
import {SandboxError} from './errors.js'
import {pullWithPolicy} from '../trust/pull.js'
import {loadSignaturePolicy} from '../trust/settings.js'

/** Where a kit came from, as recorded in the sandbox's state (enough to load it again). */
export interface KitSource {
  /** What the user typed. */
  input: string
  source: 'dir' | 'store' | 'registry'
  /** The kit directory loaded (the materialised cache directory for store kits). */
  dir: string
  /** The store reference (store and registry kits). */
  reference?: string
  /** The artifact's manifest digest (store and registry kits). */
  digest?: string
  /** A directory kit's copy kept with the sandbox (what a restart loads), and its content digest. */
  snapshot?: string
  contentDigest?: string
}

export interface ResolveKitOptions {
  store: OciLayoutStore
  env?: NodeJS.ProcessEnv
  /** Relative kit directories are taken from here (default process.cwd()). */
  cwd?: string
  /** Registry/namespace prefixes kits may be pulled from (empty: any). */
  allowedSources?: readonly string[]
  progress?: (line: string) => void
}

function isNotFound(e: unknown): boolean {
  return e instanceof NotFoundError || (e as {code?: string}).code === 'NOT_FOUND'
}

export function kitCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), 'kits')
}

/** Finds a kit: directory, then local store, then registry. */
export async function locateKit(input: string, opts: ResolveKitOptions): Promise<KitSource> {
  const env = opts.env ?? process.env
  const cwd = opts.cwd ?? process.cwd()
  const path = isAbsolute(input) ? input : resolve(cwd, input)
  const pathLike = input.startsWith('.') || input.startsWith('/') || input.startsWith('~')
  const st = await stat(path).catch(() => undefined)
  if (st?.isDirectory()) return {input, source: 'dir', dir: path}
  if (pathLike) throw new SandboxError('KIT_NOT_FOUND', `kit ${input}: no such directory`)

  // The local store, by name or digest.
  const ref = storeRef(input)
  try {
    const artifact = await readKitArtifact(opts.store, ref)
    const dir = await materialiseKit(opts.store, artifact.descriptor.digest, env)
    return {input, source: 'store', dir, reference: isDigest(ref) ? undefined : ref, digest: artifact.descriptor.digest}
  } catch (e) {
    if (!isNotFound(e)) throw e
  }

  // A registry.
  const first = input.split('/')[0] ?? ''
  if (input.includes('/') && looksLikeHost(first) && first !== 'localhost') {
    let reference
    try {
      reference = parseReference(input)
    } catch (e) {
      throw new SandboxError('KIT_NOT_FOUND', `kit ${input}: ${(e as Error).message}`)
    }
    opts.progress?.(`pulling ${reference.toString()}`)
    const pulled = await pullWithPolicy(reference, opts.store, {allowedSources: opts.allowedSources, policy: await loadSignaturePolicy(env)})
    const stored = pulled.storedAs[0]!
    const artifact = await readKitArtifact(opts.store, stored)
    const dir = await materialiseKit(opts.store, artifact.descriptor.digest, env)
    return {input, source: 'registry', dir, reference: stored, digest: artifact.descriptor.digest}
  }
  throw new SandboxError('KIT_NOT_FOUND', `kit ${input}: not a directory, not in the local store${input.includes('/') ? '' : ' (build it with `kit build DIR`)'}, and not a registry reference (HOST/REPOSITORY[:TAG])`)
}

/** Loads a kit again from what a sandbox recorded (store kits by digest: the same content). */
export async function relocateKit(k: KitSource, opts: ResolveKitOptions): Promise<KitSource> {
  if (k.source === 'dir' && k.snapshot && existsSync(join(k.snapshot, '.complete'))) return {...k, dir: k.snapshot}
  if (k.source === 'dir') {
    if (!(await stat(k.dir).catch(() => undefined))?.isDirectory()) throw new SandboxError('KIT_NOT_FOUND', `kit ${k.input}: the directory ${k.dir} is gone`)
    return k
  }
  if (!k.digest) throw new SandboxError('SANDBOX_STATE', `kit ${k.input}: no digest recorded`)
  try {
    await readKitArtifact(opts.store, k.digest)
  } catch (e) {
    if (!isNotFound(e)) throw e
    if (k.reference && k.source === 'registry') {
      const ref = parseReference(k.reference)
      await pull(ref.withDigest(k.digest), opts.store, {allowedSources: opts.allowedSources, expectDigest: k.digest})
    } else {
      throw new SandboxError('KIT_NOT_FOUND', `kit ${k.input} (${k.digest}) is no longer in the local store`)
    }
  }
  return {...k, dir: await materialiseKit(opts.store, k.digest, opts.env ?? process.env)}
}

/**
 * A store artifact as a kit directory under $KIT_HOME/cache/kits/<hex>, written once (temp
 * directory renamed into place).
 */
export async function materialiseKit(store: OciLayoutStore, digest: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const base = kitCacheDir(env)
  const dir = join(base, digestHex(digest))
  if (existsSync(join(dir, '.complete'))) return dir
  const artifact = await readKitArtifact(store, digest)
  await mkdir(base, {recursive: true})
  const tmp = await mkdtemp(join(base, '.tmp-'))
  try {
    await writeFile(join(tmp, 'spec.yaml'), artifact.specBytes)
    if (artifact.format === 'v1-zip') {
      // sbx's legacy v1 artifact: the kit directory as a ZIP (entries already checked and routed).
      for (const e of (await fetchZipKit(store, artifact.layer, digest)).entries) {
        const out = join(tmp, e.path.startsWith('home/agent/') ? join('files', 'home', e.path.slice('home/agent/'.length)) : join('files', 'workspace', e.path.slice('workspace/'.length)))
        if (e.type === 'directory') {
          await mkdir(out, {recursive: true, mode: 0o755})
          continue
        }
        await mkdir(join(out, '..'), {recursive: true, mode: 0o755})
        await writeFile(out, e.data ?? Buffer.alloc(0), {mode: e.mode})
      }
    }
    if (artifact.format === 'v2') {
      const extract = tar.extract()
      const source = await store.fetch(artifact.layer)
      const gunzip = createGunzip()
      source.on('error', (e) => gunzip.destroy(e))
      gunzip.on('error', (e) => extract.destroy(e))
      source.pipe(gunzip).pipe(extract as unknown as NodeJS.WritableStream)
      for await (const entry of extract) {
        const h = entry.header
        const rel = entryPath(h.name)
        let target: string | undefined
        if (rel === 'home/agent' || rel?.startsWith('home/agent/')) target = join('files', 'home', rel.slice('home/agent'.length))
        else if (rel === 'workspace' || rel?.startsWith('workspace/')) target = join('files', 'workspace', rel.slice('workspace'.length))
        if (target === undefined || (h.type !== 'file' && h.type !== 'directory')) {
          entry.resume()
          continue
        }
        const out = join(tmp, target)
        if (h.type === 'directory') {
          await mkdir(out, {recursive: true, mode: 0o755})
          entry.resume()
          continue
        }
        await mkdir(join(out, '..'), {recursive: true, mode: 0o755})
        const chunks: Buffer[] = []
        for await (const c of entry) chunks.push(c as Buffer)
        const mode = (h.mode ?? 0) & 0o777
        await writeFile(out, Buffer.concat(chunks), {mode: mode === 0 ? 0o644 : mode & 0o111 ? 0o755 : 0o644})
      }
    }
    await writeFile(join(tmp, '.complete'), `${digest}\n`)
    await rm(dir, {recursive: true, force: true})
    await rename(tmp, dir).catch(async (e: NodeJS.ErrnoException) => {
      if ((e.code === 'ENOTEMPTY' || e.code === 'EEXIST') && existsSync(join(dir, '.complete'))) return
      throw e
    })
  } finally {
    await rm(tmp, {recursive: true, force: true})
  }
  return dir
}

/**
 * Copies a directory kit as loaded (its spec file, and the files/ entries the scan found, symlinks
 * followed) to `dest`, so that a sandbox restarts with the kit it was created with. Returns the
 * content digest (spec bytes, then each entry's path, mode and content).
 */
export async function snapshotKit(kit: LoadedKit, dest: string): Promise<string> {
  const hash = createHash('sha256').update(kit.specBytes)
  const tmp = `${dest}.tmp-${process.pid}`
  await rm(tmp, {recursive: true, force: true})
  await mkdir(tmp, {recursive: true})
  try {
    await writeFile(join(tmp, basename(kit.specPath)), kit.specBytes)
    for (const e of kit.files) {
      let rel: string | undefined
      if (e.path === 'home/agent' || e.path.startsWith('home/agent/')) rel = join('files', 'home', e.path.slice('home/agent'.length))
      else if (e.path === 'workspace' || e.path.startsWith('workspace/')) rel = join('files', 'workspace', e.path.slice('workspace'.length))
      if (rel === undefined) continue
      hash.update(`\0${e.path}\0${e.type}\0${e.mode.toString(8)}\0`)
      if (e.type === 'directory') {
        await mkdir(join(tmp, rel), {recursive: true, mode: 0o755})
      } else if (e.source) {
        const data = await readFile(e.source)
        hash.update(data)
        await mkdir(join(tmp, rel, '..'), {recursive: true, mode: 0o755})
        await writeFile(join(tmp, rel), data, {mode: e.mode})
        await chmod(join(tmp, rel), e.mode)
      }
    }
    const digest = `sha256:${hash.digest('hex')}`
    await writeFile(join(tmp, '.complete'), `${digest}\n`)
    await rm(dest, {recursive: true, force: true})
    await rename(tmp, dest)
    return digest
  } catch (e) {
    await rm(tmp, {recursive: true, force: true})
    throw e
  }
}

/** Kit args from `--kit-arg` flags and `--kit-args-file` (a YAML file with an `args:` map); flags win. */
export async function readKitArgs(flags: readonly string[], file?: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  if (file) {
    let doc: unknown
    try {
      doc = parseYaml(await readFile(file, 'utf8'))
    } catch (e) {
      throw new SandboxError('KIT_ARGS', `--kit-args-file ${file}: ${(e as Error).message.split('\n')[0]}`)
    }
    const args = (doc as {args?: unknown} | null)?.args
    if (args === undefined || args === null || typeof args !== 'object' || Array.isArray(args)) {
      throw new SandboxError('KIT_ARGS', `--kit-args-file ${file}: expected a mapping under "args:"`)
    }
    for (const [k, v] of Object.entries(args as Record<string, unknown>)) {
      if (v !== null && typeof v === 'object') {
        // `kitname: {arg: value}` is the scoped form
        for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) out[`${k}.${k2}`] = String(v2)
      } else {
        out[k] = String(v)
      }
    }
  }
  try {
    Object.assign(out, parseKitArgFlags(flags))
  } catch (e) {
    throw new SandboxError('KIT_ARGS', (e as Error).message)
  }
  return out
}

export interface ResolvedKit {
  source: KitSource
  kit: LoadedKit
}

export interface Composition {
  kits: ResolvedKit[]
  sandbox: ComposedSandbox
  conflicts: Conflict[]
}

/** Loads every kit (args substituted) and composes them: the agent first, mixins in order. */
export async function composeSources(sources: readonly KitSource[], args: Record<string, string>, opts?: ResolveKitOptions): Promise<Composition> {
  const kits: ResolvedKit[] = []
  for (const source of sources) {
    let kit = await loadKit(source.dir, {args})
    if (kit.spec.extends !== undefined) kit = (await resolveExtends(kit, parentResolver(args, opts), source.digest ?? source.dir)).kit
    kits.push({source, kit})
  }
  const [agent, ...mixins] = kits
  if (!agent) throw new SandboxError('USAGE', 'no agent kit given')
  const input = (k: ResolvedKit) => ({spec: k.kit.spec, files: k.kit.files, ref: k.source.digest ? `${k.source.reference ?? k.source.input}@${k.source.digest}` : k.source.dir})
  const {sandbox, conflicts} = composeKits(input(agent), mixins.map(input))
  return {kits, sandbox, conflicts}
}

/**
 * Finds an `extends` parent: a directory relative to the child kit's directory, else a store or
 * registry reference (as for --kit). Parents are loaded with the same kit arguments.
 */
function parentResolver(args: Record<string, string>, opts?: ResolveKitOptions): ParentResolver {
  return async (name, child) => {
    const local = resolve(child.dir, name)
    if ((await stat(local).catch(() => undefined))?.isDirectory()) return {kit: await loadKit(local, {args}), id: local}
    if (!opts) throw new SandboxError('KIT_NOT_FOUND', `kit ${child.spec.name} extends ${name}: no such directory beside it`)
    const source = await locateKit(name, {...opts, cwd: child.dir})
    return {kit: await loadKit(source.dir, {args}), id: source.digest ?? source.dir}
  }
}
