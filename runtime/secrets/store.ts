// The secret store a command or a proxy opens: the OS keychain when it works, else the encrypted
// file store (with a one-line notice on stderr). KIT_SECRET_STORE=file forces the file store,
// KIT_SECRET_STORE=keyring forces the keychain. Beside the values, an index (KIT_HOME/secrets/
// index.json, names and bindings only, never values) records custom secrets: the hosts a secret is
// bound to and the env var the guest sees.
import {chmod, mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import {dirname, join} from 'node:path'
import {kitHome} from '../home.js'
import {checkSecretValue, checkServiceName, SecretError} from './errors.js'
import {FileSecretStore} from './file-store.js'
import {KeyringSecretStore} from './keyring-store.js'
import {parseNetworkRule, NetworkRuleError} from '../../kit-compiler/network-rules.js'

/** Where values live. */
export interface SecretBackend {
  readonly kind: 'keyring' | 'file'
  readonly location: string
  get(service: string): Promise<string | undefined>
  set(service: string, value: string): Promise<void>
  delete(service: string): Promise<boolean>
  names(): Promise<string[]>
}

/** What the proxy needs: a value by service name. */
export interface SecretSource {
  get(service: string): Promise<string | undefined>
}

/** A custom secret's binding: the host patterns it may be sent to, and its guest env var. */
export interface SecretBinding {
  hosts?: string[]
  env?: string
  /** The request headers the placeholder is replaced in (default Authorization). */
  headers?: string[]
}

export interface ListedSecret {
  name: string
  masked: string
  hosts?: string[]
  env?: string
  headers?: string[]
}

let noticeShown = false

export interface OpenOptions {
  env?: NodeJS.ProcessEnv
  /** Where the fallback notice goes; default process.stderr. */
  notice?: (line: string) => void
}

export async function openSecretBackend(opts: OpenOptions = {}): Promise<SecretBackend> {
  const env = opts.env ?? process.env
  const notice = opts.notice ?? ((l: string) => process.stderr.write(l + '\n'))
  const forced = env.KIT_SECRET_STORE
  if (forced !== undefined && forced !== '' && forced !== 'file' && forced !== 'keyring') {
    throw new SecretError(`KIT_SECRET_STORE must be "file" or "keyring", not ${JSON.stringify(forced)}`, 'E_SECRET_STORE')
  }
  if (forced === 'keyring') return new KeyringSecretStore(env)
  if (forced !== 'file' && env.DBUS_SESSION_BUS_ADDRESS) {
    const k = new KeyringSecretStore(env)
    if (await k.usable()) return k
  }
  const f = new FileSecretStore(env)
  const why = forced === 'file' ? 'KIT_SECRET_STORE=file' : 'no OS keychain (no D-Bus session)'
  return new NoticeOnWrite(f, () => {
    if (noticeShown) return
    noticeShown = true
    notice(`kit: ${why}: secrets are kept in an encrypted file, ${f.location}`)
  })
}

/** The file store, saying where values go the first time one is stored (not on a read, a list or a run that stores nothing). */
class NoticeOnWrite implements SecretBackend {
  readonly kind: SecretBackend['kind']
  readonly location: string
  constructor(private readonly inner: SecretBackend, private readonly notice: () => void) {
    this.kind = inner.kind
    this.location = inner.location
  }
  get(service: string): Promise<string | undefined> {
    return this.inner.get(service)
  }
  async set(service: string, value: string): Promise<void> {
    await this.inner.set(service, value)
    this.notice()
  }
  delete(service: string): Promise<boolean> {
    return this.inner.delete(service)
  }
  names(): Promise<string[]> {
    return this.inner.names()
  }
}

function indexPath(env: NodeJS.ProcessEnv): string {
  return join(kitHome(env), 'secrets', 'index.json')
}

async function readIndex(env: NodeJS.ProcessEnv): Promise<Record<string, SecretBinding>> {
  try {
    const o = JSON.parse(await readFile(indexPath(env), 'utf8')) as {secrets?: Record<string, SecretBinding>}
    return o.secrets ?? {}
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new SecretError(`${indexPath(env)}: ${(e as Error).message}`, 'E_SECRET_STORE')
  }
}

async function writeIndex(env: NodeJS.ProcessEnv, secrets: Record<string, SecretBinding>): Promise<void> {
  const file = indexPath(env)
  await mkdir(dirname(file), {recursive: true, mode: 0o700})
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, JSON.stringify({version: 1, secrets}, null, 2) + '\n', {mode: 0o600})
  await chmod(tmp, 0o600)
  await rename(tmp, file)
}

/** Mask a value for display: a short prefix at most, and the length. Never the whole value. */
export function maskSecret(value: string): string {
  const shown = value.length >= 16 ? value.slice(0, 3) : ''
  return `${shown}${'*'.repeat(8)} (${value.length} chars)`
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/

export class SecretStore {
  constructor(
    readonly backend: SecretBackend,
    readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  static async open(opts: OpenOptions = {}): Promise<SecretStore> {
    return new SecretStore(await openSecretBackend(opts), opts.env ?? process.env)
  }

  async get(service: string): Promise<string | undefined> {
    checkServiceName(service)
    return this.backend.get(service)
  }

  /** Store a value (from stdin or a prompt) and, for a custom secret, its binding. */
  async set(service: string, value: string, binding: SecretBinding = {}): Promise<void> {
    checkServiceName(service)
    checkSecretValue(value)
    for (const h of binding.hosts ?? []) {
      try {
        const r = parseNetworkRule(h, 'allow')
        if (r.methods || r.path) throw new SecretError(`--host ${JSON.stringify(h)}: a host pattern cannot carry methods or a path`, 'E_SECRET_BINDING')
      } catch (e) {
        if (e instanceof NetworkRuleError) throw new SecretError(`--host: ${e.message}`, 'E_SECRET_BINDING')
        throw e
      }
    }
    for (const h of binding.headers ?? []) {
      if (!HEADER_NAME.test(h)) throw new SecretError(`--header ${JSON.stringify(h)}: not a header name`, 'E_SECRET_BINDING')
    }
    if (binding.env !== undefined && !ENV_NAME.test(binding.env)) {
      throw new SecretError(`--env ${JSON.stringify(binding.env)}: not an environment variable name`, 'E_SECRET_BINDING')
    }
    await this.backend.set(service, value)
    const index = await readIndex(this.env)
    const b: SecretBinding = {}
    if (binding.hosts && binding.hosts.length > 0) b.hosts = binding.hosts.map((h) => parseNetworkRule(h).text)
    if (binding.env) b.env = binding.env
    if (binding.headers && binding.headers.length > 0) b.headers = binding.headers
    index[service] = b
    await writeIndex(this.env, index)
  }

  async remove(service: string): Promise<boolean> {
    checkServiceName(service)
    const had = await this.backend.delete(service)
    const index = await readIndex(this.env)
    if (service in index) {
      delete index[service]
      await writeIndex(this.env, index)
      return true
    }
    return had
  }

  async list(): Promise<ListedSecret[]> {
    const index = await readIndex(this.env)
    const names = new Set([...(await this.backend.names()), ...Object.keys(index)])
    const out: ListedSecret[] = []
    for (const name of [...names].sort()) {
      const v = await this.backend.get(name)
      if (v === undefined) continue
      const item: ListedSecret = {name, masked: maskSecret(v)}
      const b = index[name]
      if (b?.hosts) item.hosts = b.hosts
      if (b?.env) item.env = b.env
      if (b?.headers) item.headers = b.headers
      out.push(item)
    }
    return out
  }

  /** Custom secrets (those bound to hosts), with their bindings. */
  async customBindings(): Promise<Array<{name: string; hosts: string[]; env?: string; headers?: string[]}>> {
    const index = await readIndex(this.env)
    return Object.entries(index)
      .filter(([, b]) => (b.hosts?.length ?? 0) > 0)
      .map(([name, b]) => ({name, hosts: b.hosts!, ...(b.env ? {env: b.env} : {}), ...(b.headers ? {headers: b.headers} : {})}))
  }
}
