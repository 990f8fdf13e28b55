// A cross-process lock file, used around index.json read-modify-write and gc. The lock file says
// who holds it: {"pid", "start" (the process start time, /proc/PID/stat field 22, so a recycled
// pid is not mistaken for the holder), "host", "cmd", "since"}. It is written to a temp file and
// hard-linked into place, so it is never seen empty or half-written (a full disk fails before the
// lock exists). A waiter that finds the holder dead (no such pid, or another process under its pid)
// takes the lock over at once; a live holder is named on stderr (pid, command) after a second of
// waiting instead of a silent wait. Locks written by other hosts or older kits (no start time) fall
// back to the file's age.
import {randomBytes} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {link, open, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {basename} from 'node:path'
import {hostname} from 'node:os'
import {RegistryClientError} from './errors.js'

export interface LockOptions {
  /** Give up after this long (default 60 s). */
  timeoutMs?: number
  /** A lock file with no live-holder information older than this is broken (default 30 s). */
  staleMs?: number
  /** Called once when a live holder makes this process wait (default: one line on stderr). */
  onWait?: (holder: LockHolder, path: string) => void
}

export interface LockHolder {
  pid: number
  /** Process start time in clock ticks since boot (/proc/PID/stat field 22). */
  start?: string
  host?: string
  cmd?: string
  since?: string
}

/** How long a live holder may make us wait before we say so. */
const REPORT_AFTER_MS = 1000

let defaultOnWait: ((holder: LockHolder, path: string) => void) | undefined = (holder, path) => {
  process.stderr.write(`kit: waiting for ${path}: held by pid ${holder.pid}${holder.cmd ? ` (${holder.cmd})` : ''}${holder.since ? ` since ${holder.since}` : ''}\n`)
}

/** Replaces the default wait report (undefined: silent). */
export function setLockWaitReporter(fn: ((holder: LockHolder, path: string) => void) | undefined): void {
  defaultOnWait = fn
}

/** Start time of a process (/proc/PID/stat field 22), or undefined when it does not exist. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 2 (comm) is in parentheses and may hold spaces: count fields after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return rest[19] // field 3 is rest[0], so field 22 is rest[19]
  } catch {
    return undefined
  }
}

let self: LockHolder | undefined
function me(): LockHolder {
  if (!self) {
    const args = process.argv.slice(1)
    const cmd = [args[0] ? basename(args[0]).replace(/^run\.js$/, 'kit') : 'node', ...args.slice(1)].join(' ')
    self = {pid: process.pid, start: processStartTime(process.pid), host: hostname(), cmd: cmd.length > 200 ? cmd.slice(0, 197) + '...' : cmd}
  }
  return {...self, since: new Date().toISOString()}
}

function parseHolder(text: string): LockHolder | undefined {
  const t = text.trim()
  if (/^\d+$/.test(t)) return {pid: Number(t)} // an older kit's lock: the pid alone
  try {
    const h = JSON.parse(t) as LockHolder
    if (h && typeof h === 'object' && Number.isInteger(h.pid) && h.pid > 0) return h
  } catch {
    // empty or torn: no holder information
  }
  return undefined
}

/** 'dead' when the holder is certainly gone, 'alive' when it certainly runs, else 'unknown'. */
function holderState(h: LockHolder): 'dead' | 'alive' | 'unknown' {
  if (h.host !== undefined && h.host !== hostname()) return 'unknown'
  try {
    process.kill(h.pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'dead'
  }
  if (h.start === undefined) return 'unknown'
  const now = processStartTime(h.pid)
  if (now === undefined) return 'dead'
  return now === h.start ? 'alive' : 'dead'
}

async function tryCreate(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeFile(tmp, content, {flag: 'wx', mode: 0o644})
  } catch (err) {
    await rm(tmp, {force: true})
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOSPC' || code === 'EDQUOT') throw new RegistryClientError('DISK_FULL', `${path}: cannot take the lock: no space left on the device (${code})`, {cause: err})
    throw err
  }
  try {
    await link(tmp, path)
    return true
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err
    // A file system without hard links: exclusive create, then write.
    try {
      const fh = await open(path, 'wx')
      try {
        await fh.writeFile(content)
      } finally {
        await fh.close()
      }
      return true
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
      await rm(path, {force: true})
      throw e
    }
  } finally {
    await rm(tmp, {force: true})
  }
}

/**
 * Removes the lock at `path` if it still holds `seen` (what we found stale). Breakers take a
 * second lock so that two of them cannot remove a fresh lock a third process just took.
 */
async function breakStale(path: string, seen: string): Promise<boolean> {
  const breaker = path + '.break'
  try {
    await writeFile(breaker, String(process.pid), {flag: 'wx'})
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    // Another waiter is breaking it; a breaker that died mid-way is cleared after 10 s.
    const s = await stat(breaker).catch(() => undefined)
    if (s && Date.now() - s.mtimeMs > 10_000) await rm(breaker, {force: true})
    return false
  }
  try {
    const now = await readFile(path, 'utf8').catch(() => undefined)
    if (now === seen) await rm(path, {force: true})
    return true
  } finally {
    await rm(breaker, {force: true})
  }
}

export async function withLock<T>(path: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000
  const staleMs = opts.staleMs ?? 30_000
  const onWait = 'onWait' in opts ? opts.onWait : defaultOnWait
  const started = Date.now()
  let delay = 5
  let reported = false
  let last: LockHolder | undefined
  for (;;) {
    if (await tryCreate(path, JSON.stringify(me()) + '\n')) break
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch {
      continue // released between our create and read
    }
    const holder = parseHolder(text)
    last = holder
    const state = holder ? holderState(holder) : 'unknown'
    if (state === 'dead' && (await breakStale(path, text))) continue
    if (state === 'unknown') {
      const s = await stat(path).catch(() => undefined)
      // Without holder information (an empty file from a crash mid-create by an older kit, a torn
      // write, another host) the file's age decides.
      const limit = holder ? staleMs : Math.min(staleMs, 2000)
      if (s && Date.now() - s.mtimeMs > limit && (await breakStale(path, text))) continue
    }
    if (state === 'alive' && !reported && Date.now() - started > REPORT_AFTER_MS && holder) {
      reported = true
      onWait?.(holder, path)
    }
    if (Date.now() - started > timeoutMs) {
      const who = last ? ` held by pid ${last.pid}${last.cmd ? ` (${last.cmd})` : ''}${last.since ? ` since ${last.since}` : ''}` : ''
      throw new RegistryClientError('LOCKED', `timed out after ${Math.round(timeoutMs / 1000)} s waiting for the lock ${path}${who}`)
    }
    await new Promise((r) => setTimeout(r, delay + Math.random() * delay))
    delay = Math.min(delay * 2, 100)
  }
  try {
    return await fn()
  } finally {
    await rm(path, {force: true})
  }
}

// ---- Test hooks ------------------------------------------------------------------------------

/**
 * KIT_TEST_PAUSE=STEP:FILE (read once, at start-up) holds this process at STEP (e.g. `tag`: a
 * writer between "its blobs are present" and taking the lock to tag) until FILE exists; it creates
 * FILE.waiting (holding its pid) when it gets there, so a test knows the process is held.
 */
const PAUSE = (() => {
  const raw = process.env.KIT_TEST_PAUSE
  if (!raw) return undefined
  const at = raw.indexOf(':')
  return at > 0 ? {step: raw.slice(0, at), file: raw.slice(at + 1)} : undefined
})()
let paused = false

export async function testPause(step: string): Promise<void> {
  if (!PAUSE || PAUSE.step !== step || paused) return
  paused = true // once per process
  await writeFile(PAUSE.file + '.waiting', String(process.pid))
  for (;;) {
    try {
      await stat(PAUSE.file)
      return
    } catch {
      await new Promise((r) => setTimeout(r, 20))
    }
  }
}
