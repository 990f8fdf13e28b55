// `kit stats` and `kit logs`: figures from the sandbox's egress audit log (requests, bytes each
// way, blocked requests, per host), and CPU/memory of its VM while it runs (read from /proc: the
// `kit run` process that owns the sandbox, and its descendants — QEMU, connectors — when running;
// with the docker driver, also the container's processes, which the engine names).
import {createReadStream, existsSync, readFileSync, statSync, watch} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import type {Writable} from 'node:stream'
import type {AuditEntry} from '../proxy/audit.js'
import {containerPids} from '../docker/processes.js'
import {processTree} from './procs.js'
import {liveState, readDefinition, readState, sandboxDir} from './state.js'

export interface EgressStats {
  requests: number
  allowed: number
  blocked: number
  errors: number
  bytesUp: number
  bytesDown: number
  /** Per destination host. */
  hosts: Array<{host: string; requests: number; blocked: number; bytesUp: number; bytesDown: number}>
}

export interface ProcessStats {
  pids: number[]
  /** CPU seconds used so far (user + system) by the sandbox's processes. */
  cpuSeconds: number
  /** Resident memory in bytes. */
  rssBytes: number
}

export interface SandboxStats {
  name: string
  state: string
  egress: EgressStats
  /** Only while it runs. */
  process?: ProcessStats
  uptimeSec?: number
}

export function egressStats(lines: Iterable<string>): EgressStats {
  const s: EgressStats = {requests: 0, allowed: 0, blocked: 0, errors: 0, bytesUp: 0, bytesDown: 0, hosts: []}
  const hosts = new Map<string, EgressStats['hosts'][number]>()
  for (const line of lines) {
    if (!line.trim()) continue
    let e: AuditEntry
    try {
      e = JSON.parse(line) as AuditEntry
    } catch {
      continue
    }
    s.requests++
    if (e.decision === 'allow') s.allowed++
    else if (e.decision === 'deny') s.blocked++
    else s.errors++
    s.bytesUp += e.bytesUp ?? 0
    s.bytesDown += e.bytesDown ?? 0
    const key = e.host ?? '(none)'
    let h = hosts.get(key)
    if (!h) hosts.set(key, (h = {host: key, requests: 0, blocked: 0, bytesUp: 0, bytesDown: 0}))
    h.requests++
    if (e.decision === 'deny') h.blocked++
    h.bytesUp += e.bytesUp ?? 0
    h.bytesDown += e.bytesDown ?? 0
  }
  s.hosts = [...hosts.values()].sort((a, b) => b.requests - a.requests || (a.host < b.host ? -1 : 1))
  return s
}

export function processStats(pid: number, extra: number[] = []): ProcessStats | undefined {
  if (!existsSync(`/proc/${pid}`)) return undefined
  const pids = [...new Set([...processTree(pid), ...extra])]
  const ticks = 100 // USER_HZ on Linux
  let cpu = 0
  let rss = 0
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      cpu += (Number(f[11]) + Number(f[12])) / ticks // utime, stime
      const status = readFileSync(`/proc/${p}/status`, 'utf8')
      const m = /^VmRSS:\s+(\d+) kB/m.exec(status)
      if (m) rss += Number(m[1]) * 1024
    } catch {
      /* exited meanwhile */
    }
  }
  return {pids, cpuSeconds: Math.round(cpu * 100) / 100, rssBytes: rss}
}

export function egressLogPath(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(sandboxDir(name, env), 'egress.log')
}

export function setupLogPath(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(sandboxDir(name, env), 'setup.log')
}

export async function sandboxStats(name: string, env: NodeJS.ProcessEnv = process.env): Promise<SandboxStats> {
  await readDefinition(name, env)
  const st = await readState(name, env)
  const state = liveState(st)
  const text = await readFile(egressLogPath(name, env), 'utf8').catch(() => '')
  const out: SandboxStats = {name, state, egress: egressStats(text.split('\n'))}
  if (state === 'running' && st.pid) {
    // A container's processes are the engine's children, not the `kit run` process's.
    const extra = st.driver === 'docker' ? await containerPids(name, env).catch(() => []) : []
    const p = processStats(st.pid, extra)
    if (p) out.process = p
    if (st.startedAt) out.uptimeSec = Math.max(0, Math.round((Date.now() - Date.parse(st.startedAt)) / 1000))
  }
  return out
}

/** One audit entry as a log line. */
export function formatEgress(e: AuditEntry): string {
  const what = e.kind === 'connect' ? `CONNECT ${e.host}:${e.port}` : `${e.method ?? e.kind.toUpperCase()} ${e.host ?? ''}${e.port && e.port !== 443 && e.port !== 80 ? `:${e.port}` : ''}${e.path ?? ''}`
  const rule = e.rule ? ` rule=${JSON.stringify(e.rule)}${e.source ? ` (${e.source})` : ''}` : ''
  const creds = e.credentials?.length ? ` injected=${e.credentials.join(',')}` : ''
  return `${e.time} ${e.decision.toUpperCase().padEnd(5)} ${what}${e.status ? ` ${e.status}` : ''}${rule}${e.reason && e.decision !== 'allow' ? ` reason=${JSON.stringify(e.reason)}` : ''}${creds} up=${e.bytesUp} down=${e.bytesDown}`
}

export interface LogsOptions {
  env?: NodeJS.ProcessEnv
  /** egress, setup, or both (default). */
  which?: 'egress' | 'setup' | 'all'
  follow?: boolean
  json?: boolean
  out: Writable
  signal?: AbortSignal
}

function render(kind: 'egress' | 'setup', line: string, json: boolean): string | undefined {
  if (!line) return undefined
  if (kind === 'setup') return json ? JSON.stringify({log: 'setup', line}) : `setup: ${line}`
  if (json) return line
  try {
    return `egress: ${formatEgress(JSON.parse(line) as AuditEntry)}`
  } catch {
    return `egress: ${line}`
  }
}

/** Prints the setup log and the egress log; with follow, keeps printing new egress lines until stopped. */
export async function printLogs(name: string, opts: LogsOptions): Promise<void> {
  const env = opts.env ?? process.env
  await readDefinition(name, env)
  const which = opts.which ?? 'all'
  const files: Array<{kind: 'egress' | 'setup'; path: string}> = []
  if (which !== 'egress') files.push({kind: 'setup', path: setupLogPath(name, env)})
  if (which !== 'setup') files.push({kind: 'egress', path: egressLogPath(name, env)})
  const offsets = new Map<string, number>()
  for (const f of files) {
    if (!existsSync(f.path)) continue
    const rl = createInterface({input: createReadStream(f.path), crlfDelay: Infinity})
    for await (const line of rl) {
      const r = render(f.kind, line, opts.json ?? false)
      if (r !== undefined) opts.out.write(r + '\n')
    }
    offsets.set(f.path, statSync(f.path).size)
  }
  if (!opts.follow) return
  // Follow: poll the files for growth (a watcher alone misses appends on some filesystems).
  await new Promise<void>((resolve) => {
    const partial = new Map<string, string>()
    const tick = () => {
      for (const f of files) {
        if (!existsSync(f.path)) continue
        const size = statSync(f.path).size
        const from = offsets.get(f.path) ?? 0
        if (size < from) offsets.set(f.path, 0) // truncated (setup.log of a new run)
        if (size <= (offsets.get(f.path) ?? 0)) continue
        const fd = readFileSync(f.path)
        const chunk = (partial.get(f.path) ?? '') + fd.subarray(offsets.get(f.path) ?? 0, size).toString('utf8')
        offsets.set(f.path, size)
        const lines = chunk.split('\n')
        partial.set(f.path, lines.pop() ?? '')
        for (const line of lines) {
          const r = render(f.kind, line, opts.json ?? false)
          if (r !== undefined) opts.out.write(r + '\n')
        }
      }
    }
    const timer = setInterval(tick, 250)
    let watcher: ReturnType<typeof watch> | undefined
    try {
      watcher = watch(sandboxDir(name, env), () => tick())
    } catch {
      /* polling only */
    }
    const done = () => {
      clearInterval(timer)
      watcher?.close()
      resolve()
    }
    opts.signal?.addEventListener('abort', done, {once: true})
    process.once('SIGINT', done)
  })
}
