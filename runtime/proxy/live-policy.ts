// Live reload of a running proxy's policy: watch the local policy file (KIT_HOME/policy.json, what
// `kit policy allow|deny|init` writes), rebuild the policy the way it was built at start, and swap
// it for new requests. A file that does not parse keeps the old policy (one line on stderr); a
// change of rules writes one audit record naming the rules added and removed.
import {watch, type FSWatcher} from 'node:fs'
import {mkdir} from 'node:fs/promises'
import {basename, dirname} from 'node:path'
import {localPolicyPath} from '../policy/local-policy.js'
import type {ListedRule, Policy} from '../policy/policy.js'
import type {RunningProxy} from './server.js'

export interface LivePolicyOptions {
  /** The running proxy whose policy is swapped. */
  proxy: Pick<RunningProxy, 'currentPolicy' | 'setPolicy' | 'audit'>
  /** Build the policy again, as at start (same kits, flags, tier). */
  build: () => Promise<Policy>
  env?: NodeJS.ProcessEnv
  /** Where the one-line notices go (a reload that failed); default stderr. */
  log?: (line: string) => void
  /** Quiet time after the last change before reloading; default 100 ms. */
  debounceMs?: number
}

export interface LivePolicy {
  /** Reload now (what a file change triggers). Resolves when the new policy is in place or refused. */
  reload(): Promise<void>
  close(): void
}

function ruleKey(r: ListedRule): string {
  return `${r.effect} ${r.rule} (${r.source})`
}

/** The rules in `after` that are not in `before` (counting repeats), and the other way round. */
export function diffRules(before: readonly ListedRule[], after: readonly ListedRule[]): {added: string[]; removed: string[]} {
  const count = new Map<string, number>()
  for (const r of before) count.set(ruleKey(r), (count.get(ruleKey(r)) ?? 0) + 1)
  const added: string[] = []
  for (const r of after) {
    const k = ruleKey(r)
    const n = count.get(k) ?? 0
    if (n > 0) count.set(k, n - 1)
    else added.push(k)
  }
  const removed: string[] = []
  for (const [k, n] of count) for (let i = 0; i < n; i++) removed.push(k)
  return {added, removed}
}

export async function watchLocalPolicy(opts: LivePolicyOptions): Promise<LivePolicy> {
  const file = localPolicyPath(opts.env ?? process.env)
  const dir = dirname(file)
  const name = basename(file)
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'))
  const debounceMs = opts.debounceMs ?? 100
  // Watch the directory, not the file: `kit policy` replaces the file (temp file and rename).
  await mkdir(dir, {recursive: true})
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let again = false
  let closed = false

  async function reloadOnce(): Promise<void> {
    let next: Policy
    try {
      next = await opts.build()
    } catch (e) {
      log(`kit: policy reload: ${(e as Error).message}; keeping the previous policy`)
      return
    }
    if (closed) return
    const {added, removed} = diffRules(opts.proxy.currentPolicy().rules(), next.rules())
    opts.proxy.setPolicy(next)
    if (added.length || removed.length) {
      opts.proxy.audit.write({kind: 'policy', decision: 'reload', reason: `${file} changed`, added, removed, bytesUp: 0, bytesDown: 0, durationMs: 0})
    }
  }

  // One reload at a time; a change during a reload triggers one more afterwards.
  function reload(): Promise<void> {
    if (running) {
      again = true
      return running
    }
    running = (async () => {
      do {
        again = false
        await reloadOnce()
      } while (again && !closed)
    })().finally(() => (running = undefined))
    return running
  }

  const watcher: FSWatcher = watch(dir, {persistent: false}, (_event, changed) => {
    if (changed !== null && changed !== name) return
    clearTimeout(timer)
    timer = setTimeout(() => void reload(), debounceMs)
  })
  watcher.on('error', (e) => log(`kit: policy reload: cannot watch ${dir}: ${e.message}`))

  return {
    reload,
    close() {
      closed = true
      clearTimeout(timer)
      watcher.close()
    },
  }
}
