// The OS keychain through @napi-rs/keyring (Secret Service on Linux, Keychain on macOS, Credential
// Manager on Windows). Entries live under the service "kit", or "kit (KIT_HOME)" when KIT_HOME is
// set, so a test's KIT_HOME never touches a user's real entries.
import {AsyncEntry, findCredentialsAsync} from '@napi-rs/keyring'
import {SecretError} from './errors.js'

export class KeyringSecretStore {
  readonly kind = 'keyring' as const
  readonly service: string

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.service = env.KIT_HOME ? `kit (${env.KIT_HOME})` : 'kit'
  }

  get location(): string {
    return `OS keychain, service ${JSON.stringify(this.service)}`
  }

  /** Whether the keychain answers (a D-Bus session with a Secret Service, ...). */
  async usable(): Promise<boolean> {
    try {
      await withTimeout(findCredentialsAsync(this.service), 3000)
      return true
    } catch {
      return false
    }
  }

  async get(service: string): Promise<string | undefined> {
    try {
      return (await new AsyncEntry(this.service, service).getPassword()) ?? undefined
    } catch (e) {
      throw keyringError('read', service, e)
    }
  }

  async set(service: string, value: string): Promise<void> {
    try {
      await new AsyncEntry(this.service, service).setPassword(value)
    } catch (e) {
      throw keyringError('store', service, e)
    }
  }

  async delete(service: string): Promise<boolean> {
    try {
      return await new AsyncEntry(this.service, service).deleteCredential()
    } catch (e) {
      throw keyringError('delete', service, e)
    }
  }

  async names(): Promise<string[]> {
    try {
      return (await findCredentialsAsync(this.service)).map((c) => c.account).sort()
    } catch (e) {
      throw keyringError('list', '*', e)
    }
  }
}

function keyringError(what: string, service: string, e: unknown): SecretError {
  // The binding's messages name the entry, never the value.
  const detail = e instanceof Error ? e.message.split('\n')[0] : 'unknown error'
  return new SecretError(`OS keychain: cannot ${what} secret ${service}: ${detail}`, 'E_KEYRING')
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms)
    p.then(
      (v) => {
        clearTimeout(t)
        resolve(v)
      },
      (e) => {
        clearTimeout(t)
        reject(e)
      },
    )
  })
}
