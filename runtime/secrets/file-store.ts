// The fallback secret store for hosts without an OS keychain (no D-Bus session: servers, CI):
// one file encrypted at rest with AES-256-GCM, and its key in another file, both mode 0600 in
// directories of mode 0700 under KIT_HOME. The key file is kept apart from the data so that a copy
// of the data alone (a backup, a bug report) reveals nothing.
import {createCipheriv, createDecipheriv, randomBytes} from 'node:crypto'
import {chmod, mkdir, readFile, rename, writeFile} from 'node:fs/promises'
import {dirname, join} from 'node:path'
import {kitHome} from '../home.js'
import {SecretError} from './errors.js'

const AAD = Buffer.from('kit secret store v1')

interface Sealed {
  version: 1
  alg: 'aes-256-gcm'
  iv: string
  tag: string
  data: string
}

export function fileStorePaths(env: NodeJS.ProcessEnv = process.env): {data: string; key: string} {
  const home = kitHome(env)
  return {data: join(home, 'secrets', 'secrets.enc'), key: join(home, 'keys', 'secret-store.key')}
}

async function writePrivate(file: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(file), {recursive: true, mode: 0o700})
  await chmod(dirname(file), 0o700)
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(tmp, content, {mode: 0o600})
  await chmod(tmp, 0o600)
  await rename(tmp, file)
}

export class FileSecretStore {
  readonly kind = 'file' as const
  readonly paths: {data: string; key: string}

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.paths = fileStorePaths(env)
  }

  get location(): string {
    return this.paths.data
  }

  private async key(create: boolean): Promise<Buffer | undefined> {
    try {
      const k = Buffer.from((await readFile(this.paths.key, 'utf8')).trim(), 'base64')
      if (k.length !== 32) throw new SecretError(`${this.paths.key}: not a 256-bit key`, 'E_SECRET_STORE')
      return k
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
      if (!create) return undefined
      const k = randomBytes(32)
      await writePrivate(this.paths.key, k.toString('base64') + '\n')
      return k
    }
  }

  private async readAll(): Promise<Record<string, string>> {
    let text: string
    try {
      text = await readFile(this.paths.data, 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {}
      throw e
    }
    const key = await this.key(false)
    if (!key) throw new SecretError(`${this.paths.data} exists but its key ${this.paths.key} is missing`, 'E_SECRET_STORE')
    try {
      const s = JSON.parse(text) as Sealed
      if (s.version !== 1 || s.alg !== 'aes-256-gcm') throw new Error('unknown format')
      const d = createDecipheriv('aes-256-gcm', key, Buffer.from(s.iv, 'base64'))
      d.setAAD(AAD)
      d.setAuthTag(Buffer.from(s.tag, 'base64'))
      const plain = Buffer.concat([d.update(Buffer.from(s.data, 'base64')), d.final()])
      return JSON.parse(plain.toString('utf8')) as Record<string, string>
    } catch {
      throw new SecretError(`${this.paths.data}: cannot decrypt (damaged, or not sealed with ${this.paths.key})`, 'E_SECRET_STORE')
    }
  }

  private async writeAll(values: Record<string, string>): Promise<void> {
    const key = (await this.key(true))!
    const iv = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', key, iv)
    c.setAAD(AAD)
    const data = Buffer.concat([c.update(Buffer.from(JSON.stringify(values), 'utf8')), c.final()])
    const sealed: Sealed = {version: 1, alg: 'aes-256-gcm', iv: iv.toString('base64'), tag: c.getAuthTag().toString('base64'), data: data.toString('base64')}
    await writePrivate(this.paths.data, JSON.stringify(sealed) + '\n')
  }

  async get(service: string): Promise<string | undefined> {
    return (await this.readAll())[service]
  }

  async set(service: string, value: string): Promise<void> {
    const all = await this.readAll()
    all[service] = value
    await this.writeAll(all)
  }

  async delete(service: string): Promise<boolean> {
    const all = await this.readAll()
    if (!(service in all)) return false
    delete all[service]
    await this.writeAll(all)
    return true
  }

  async names(): Promise<string[]> {
    return Object.keys(await this.readAll()).sort()
  }
}
