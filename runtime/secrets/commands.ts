// What the `kit secret` commands do, one function each.
import {readSecretValue} from './input.js'
import {SecretError} from './errors.js'
import {SecretStore, type ListedSecret, type SecretBinding} from './store.js'

export async function setSecretFromInput(
  service: string,
  binding: SecretBinding,
  stdin: NodeJS.ReadStream = process.stdin,
): Promise<{service: string; store: string; location: string}> {
  const store = await SecretStore.open()
  const value = await readSecretValue(`Value for ${service}: `, stdin)
  await store.set(service, value, binding)
  return {service, store: store.backend.kind, location: store.backend.location}
}

export async function listSecrets(): Promise<{store: string; secrets: ListedSecret[]}> {
  const store = await SecretStore.open()
  return {store: store.backend.kind, secrets: await store.list()}
}

export async function removeSecret(service: string): Promise<{service: string; removed: boolean}> {
  const store = await SecretStore.open()
  const removed = await store.remove(service)
  if (!removed) throw Object.assign(new SecretError(`no secret named ${service}`, 'E_NO_SECRET'), {exitCode: 1})
  return {service, removed}
}
