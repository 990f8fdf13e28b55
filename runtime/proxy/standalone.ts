// `kit proxy`: the policy proxy on its own, with the local policy, the org floor, kits given as
// directories, rules from flags, the secrets of the local store, and an audit log (default
// KIT_HOME/logs/policy.jsonl). The runtime starts the same proxy per sandbox with startProxy.
import {readFile} from 'node:fs/promises'
import {effectivePolicy} from '../policy/effective.js'
import {auditLogPath} from '../policy/local-policy.js'
import {SecretStore} from '../secrets/store.js'
import {loadOrCreateCA} from './ca.js'
import {watchLocalPolicy} from './live-policy.js'
import {startProxy, type RunningProxy, type ProxyLimits} from './server.js'

export interface StandaloneOptions {
  listen: string
  kits?: readonly string[]
  allow?: readonly string[]
  deny?: readonly string[]
  logFile?: string
  connectTo?: readonly string[]
  upstreamCAFiles?: readonly string[]
  sandboxName?: string
  env?: NodeJS.ProcessEnv
  limits?: Partial<ProxyLimits>
  /** Where the secret store's fallback notice goes. */
  notice?: (line: string) => void
}

export class UpstreamCAError extends Error {
  readonly code = 'E_UPSTREAM_CA'
  constructor(file: string, problem: string) {
    super(`--upstream-ca ${file}: ${problem}`)
    this.name = 'UpstreamCAError'
  }
}

export async function startStandaloneProxy(opts: StandaloneOptions): Promise<RunningProxy & {rules: number; logFile: string}> {
  const env = opts.env ?? process.env
  // The kit loader (schemas, YAML) is loaded only when kits are given.
  const kits = opts.kits?.length ? await (await import('../policy/kits.js')).loadKitPolicies(opts.kits, env) : []
  const build = () => effectivePolicy({env, kits, allow: opts.allow ?? [], deny: opts.deny ?? []})
  const policy = await build()
  const upstreamCAs: string[] = []
  for (const f of opts.upstreamCAFiles ?? []) {
    let pem: string
    try {
      pem = await readFile(f, 'utf8')
    } catch (e) {
      throw new UpstreamCAError(f, (e as NodeJS.ErrnoException).code ?? (e as Error).message)
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UpstreamCAError(f, 'no PEM certificate in it')
    upstreamCAs.push(pem)
  }
  const credentials = kits.flatMap((k) => k.credentials)
  const store = await SecretStore.open({env, ...(opts.notice ? {notice: opts.notice} : {})})
  const customSecrets = await store.customBindings()
  const logFile = opts.logFile ?? auditLogPath(env)
  const running = await startProxy({
    listen: opts.listen,
    policy,
    credentials,
    customSecrets,
    secrets: store,
    auditLogPath: logFile,
    connectTo: opts.connectTo ?? [],
    upstreamCAs,
    ...(opts.sandboxName ? {sandboxName: opts.sandboxName} : {}),
    env,
    ...(opts.limits ? {limits: opts.limits} : {}),
  })
  // `kit policy allow|deny` applies without a restart (the 403's hint says to run it).
  const live = await watchLocalPolicy({proxy: running, build, env})
  return {
    ...running,
    rules: policy.rules().length,
    logFile,
    stop: () => {
      live.close()
      return running.stop()
    },
  }
}

/** `kit proxy ca`: the path of the CA certificate clients must trust (created if missing). */
export async function proxyCaPath(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return (await loadOrCreateCA(env)).certPath
}
