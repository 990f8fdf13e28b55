// Where registry credentials come from, first match wins:
//   1. KIT_REGISTRY_AUTH="host|user|secret" (newline-separated for several hosts): CI without files
//   2. kit's own auth file ($KIT_HOME/auth.json, written by `kit login`, mode 0600; docker's shape)
//   3. docker's config ($DOCKER_CONFIG/config.json or ~/.docker/config.json):
//      credHelpers[host] > credsStore > auths[host] (auth = base64 user:pass, identitytoken)
// A helper is the docker-credential-<name> program on PATH, spoken to over stdin/stdout.
import {chmod, mkdir, readFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import {dirname, join} from 'node:path'
import {RegistryClientError} from './errors.js'
import {atomicWrite} from './atomic.js'
import {DOCKER_HUB} from './reference.js'

export interface Credential {
  username?: string
  password?: string
  /** An OAuth2 refresh token (docker's `identitytoken`), exchanged at the token endpoint. */
  identityToken?: string
  /** A bearer token used as is. */
  registryToken?: string
}

export interface CredentialSource {
  get(registry: string): Promise<Credential | undefined>
}

/** The key docker uses for a registry in config.json (Docker Hub's legacy URL). */
export function dockerConfigKey(registry: string): string {
  return registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry
}

/** "https://host/v1/" / "http://host" / "host" → "host" (docker normalises keys this way). */
function normaliseKey(key: string): string {
  const stripped = key.replace(/^[a-z]+:\/\//i, '')
  const host = stripped.split('/')[0]
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host
}

/** Credentials from KIT_REGISTRY_AUTH=host|user|secret (several: one per line). */
export class EnvCredentials implements CredentialSource {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async get(registry: string): Promise<Credential | undefined> {
    const value = this.env.KIT_REGISTRY_AUTH
    if (!value) return undefined
    for (const line of value.split(/\r?\n/)) {
      if (line.trim() === '') continue
      const first = line.indexOf('|')
      const second = first < 0 ? -1 : line.indexOf('|', first + 1)
      if (first < 0 || second < 0) {
        throw new RegistryClientError('INVALID_CREDENTIALS', 'KIT_REGISTRY_AUTH must be host|user|secret (one per line)')
      }
      const host = normaliseKey(line.slice(0, first).trim())
      if (host !== registry) continue
      return {username: line.slice(first + 1, second), password: line.slice(second + 1)}
    }
    return undefined
  }
}

interface DockerConfig {
  auths?: Record<string, {auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string}>
  credsStore?: string
  credHelpers?: Record<string, string>
}

/** The default docker config path: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json')
}

async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    return JSON.parse(text) as T
  } catch (err) {
    throw new RegistryClientError('INVALID_CREDENTIALS', `${path}: not valid JSON: ${(err as Error).message}`)
  }
}

function fromAuthEntry(entry: NonNullable<DockerConfig['auths']>[string]): Credential | undefined {
  if (entry.identitytoken) return {username: entry.username, identityToken: entry.identitytoken}
  if (entry.registrytoken) return {registryToken: entry.registrytoken}
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon < 0) return undefined
    return {username: decoded.slice(0, colon), password: decoded.slice(colon + 1)}
  }
  if (entry.username !== undefined && entry.password !== undefined) return {username: entry.username, password: entry.password}
  return undefined
}

function findAuth(config: DockerConfig, registry: string): Credential | undefined {
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (normaliseKey(key) === registry) {
      const cred = fromAuthEntry(entry)
      if (cred) return cred
    }
  }
  return undefined
}

/** docker's config.json: credHelpers > credsStore > auths. */
export class DockerConfigCredentials implements CredentialSource {
  constructor(
    private readonly path = dockerConfigPath(),
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async get(registry: string): Promise<Credential | undefined> {
    const config = await readJson<DockerConfig>(this.path)
    if (!config) return undefined
    for (const [key, helper] of Object.entries(config.credHelpers ?? {})) {
      if (normaliseKey(key) === registry) return runHelper(helper, dockerConfigKey(registry), this.env)
    }
    if (config.credsStore) {
      const cred = await runHelper(config.credsStore, dockerConfigKey(registry), this.env)
      if (cred) return cred
    }
    return findAuth(config, registry)
  }
}

/** Runs `docker-credential-<helper> get` with the server URL on stdin. */
export async function runHelper(helper: string, serverUrl: string, env: NodeJS.ProcessEnv = process.env): Promise<Credential | undefined> {
  const program = `docker-credential-${helper}`
  // child_process (and what it pulls in) loads only when a helper is configured: every registry
  // command imports this module, few run a helper.
  const {spawn} = await import('node:child_process')
  const {code, stdout, stderr} = await new Promise<{code: number | null; stdout: string; stderr: string}>((resolve, reject) => {
    const child = spawn(program, ['get'], {env, stdio: ['pipe', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', (e) =>
      reject(new RegistryClientError('CREDENTIAL_HELPER', `credential helper ${program} could not run: ${(e as Error).message}`)),
    )
    child.on('close', (c) => resolve({code: c, stdout: out, stderr: err}))
    child.stdin.end(serverUrl)
  })
  if (code !== 0) {
    if (/credentials not found/i.test(stdout + stderr)) return undefined
    throw new RegistryClientError('CREDENTIAL_HELPER', `credential helper ${program} failed (exit ${code}) for ${serverUrl}`)
  }
  let parsed: {Username?: string; Secret?: string}
  try {
    parsed = JSON.parse(stdout) as {Username?: string; Secret?: string}
  } catch {
    throw new RegistryClientError('CREDENTIAL_HELPER', `credential helper ${program} printed no JSON for ${serverUrl}`)
  }
  if (!parsed.Secret) return undefined
  if (parsed.Username === '<token>') return {identityToken: parsed.Secret}
  return {username: parsed.Username, password: parsed.Secret}
}

/** The credential helper docker's config names for a registry (credHelpers[host], else credsStore), if any. */
export async function configuredHelper(registry: string, path = dockerConfigPath()): Promise<string | undefined> {
  const config = await readJson<DockerConfig>(path)
  if (!config) return undefined
  for (const [key, helper] of Object.entries(config.credHelpers ?? {})) if (normaliseKey(key) === registry) return helper
  return config.credsStore || undefined
}

/** `docker-credential-<helper> store` (the secret goes on stdin, as JSON) or `erase` (the server URL on stdin). */
export async function helperWrite(helper: string, action: 'store' | 'erase', serverUrl: string, cred?: {username: string; secret: string}, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const program = `docker-credential-${helper}`
  const {spawn} = await import('node:child_process')
  const input = action === 'store' ? JSON.stringify({ServerURL: serverUrl, Username: cred?.username ?? '', Secret: cred?.secret ?? ''}) : serverUrl
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(program, [action], {env, stdio: ['pipe', 'ignore', 'ignore']})
    child.on('error', (e) => reject(new RegistryClientError('CREDENTIAL_HELPER', `credential helper ${program} could not run: ${(e as Error).message}`)))
    child.on('close', resolve)
    child.stdin.end(input)
  })
  if (code !== 0) throw new RegistryClientError('CREDENTIAL_HELPER', `credential helper ${program} ${action} failed (exit ${code}) for ${serverUrl}`)
}

/** kit's own credential file (docker's `auths` shape), written by `kit login`, mode 0600. */
export class AuthFile implements CredentialSource {
  constructor(readonly path: string) {}

  async get(registry: string): Promise<Credential | undefined> {
    const config = await readJson<DockerConfig>(this.path)
    return config ? findAuth(config, registry) : undefined
  }

  async store(registry: string, username: string, password: string): Promise<void> {
    const config = (await readJson<DockerConfig>(this.path)) ?? {}
    const auths = {...(config.auths ?? {})}
    for (const key of Object.keys(auths)) if (normaliseKey(key) === registry) delete auths[key]
    auths[registry] = {auth: Buffer.from(`${username}:${password}`).toString('base64')}
    await this.write({...config, auths})
  }

  /** True when an entry was removed. */
  async remove(registry: string): Promise<boolean> {
    const config = await readJson<DockerConfig>(this.path)
    if (!config?.auths) return false
    const auths = {...config.auths}
    let removed = false
    for (const key of Object.keys(auths)) {
      if (normaliseKey(key) === registry) {
        delete auths[key]
        removed = true
      }
    }
    if (removed) await this.write({...config, auths})
    return removed
  }

  private async write(config: DockerConfig): Promise<void> {
    await mkdir(dirname(this.path), {recursive: true, mode: 0o700})
    await atomicWrite(this.path, JSON.stringify(sortKeys(config), null, 2) + '\n', 0o600)
    await chmod(this.path, 0o600)
  }
}

function sortKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(sortKeys) as T
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as Record<string, unknown>)[k])])) as T
  }
  return value
}

/** Tries each source in order. */
export class ChainCredentials implements CredentialSource {
  constructor(private readonly sources: CredentialSource[]) {}

  async get(registry: string): Promise<Credential | undefined> {
    for (const source of this.sources) {
      const cred = await source.get(registry)
      if (cred) return cred
    }
    return undefined
  }
}

/** The usual chain: environment, kit's auth file (when given), docker's config. */
export function defaultCredentials(opts: {authFile?: string; env?: NodeJS.ProcessEnv} = {}): CredentialSource {
  const env = opts.env ?? process.env
  const sources: CredentialSource[] = [new EnvCredentials(env)]
  if (opts.authFile) sources.push(new AuthFile(opts.authFile))
  sources.push(new DockerConfigCredentials(dockerConfigPath(env), env))
  return new ChainCredentials(sources)
}
