// A full disk (or an exhausted quota) while kit writes: one error that says so, where, and what to
// do, instead of a bare ENOSPC from whichever write hit it first.
import {tmpdir} from 'node:os'
import {cacheDir, kitHome} from './home.js'

export function isDiskFull(e: unknown, depth = 0): boolean {
  if (!e || typeof e !== 'object' || depth > 4) return false
  const err = e as NodeJS.ErrnoException & {cause?: unknown}
  if (err.code === 'ENOSPC' || err.code === 'EDQUOT') return true
  if (/no space left on device|disk quota exceeded/i.test(err.message ?? '')) return true
  return isDiskFull(err.cause, depth + 1)
}

export class DiskFullError extends Error {
  readonly code = 'DISK_FULL'
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'DiskFullError'
  }
}

/** The error for a full disk met while `doing` (e.g. "starting sandbox demo"). */
export function diskFull(e: unknown, doing: string, env: NodeJS.ProcessEnv = process.env): DiskFullError {
  if (e instanceof DiskFullError) return e
  const path = (e as NodeJS.ErrnoException).path
  const where = path ? path : `KIT_HOME (${kitHome(env)}) or the temp directory (${tmpdir()})`
  return new DiskFullError(
    `no space left on device while ${doing}, writing ${where}: free some space and try again (kit rm NAME removes a sandbox; ${cacheDir(env)} holds caches kit rebuilds)`,
    {cause: e},
  )
}
