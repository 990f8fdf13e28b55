// A cross-process lock file: created with O_EXCL, removed on release; a lock older than
// `staleMs` (a crashed holder) is broken. Used around index.json read-modify-write.
import {open, rm, stat} from 'node:fs/promises'
import {RegistryClientError} from './errors.js'

export interface LockOptions {
  /** Give up after this long (default 60 s). */
  timeoutMs?: number
  /** A lock file older than this is taken to be left by a dead process (default 30 s). */
  staleMs?: number
}

export async function withLock<T>(path: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000
  const staleMs = opts.staleMs ?? 30_000
  const started = Date.now()
  let delay = 5
  for (;;) {
    try {
      const fh = await open(path, 'wx')
      await fh.writeFile(`${process.pid}\n`)
      await fh.close()
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      try {
        const s = await stat(path)
        if (Date.now() - s.mtimeMs > staleMs) {
          await rm(path, {force: true})
          continue
        }
      } catch {
        continue // released between open and stat
      }
      if (Date.now() - started > timeoutMs) {
        throw new RegistryClientError('LOCKED', `timed out waiting for the lock ${path}`)
      }
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay))
      delay = Math.min(delay * 2, 100)
    }
  }
  try {
    return await fn()
  } finally {
    await rm(path, {force: true})
  }
}
