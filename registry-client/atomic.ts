// Nothing half-written: a file is written to a temp file in the same directory, fsynced, renamed.
import {randomBytes} from 'node:crypto'
import {open, rename, rm} from 'node:fs/promises'
import {RegistryClientError} from './errors.js'

/** Writes a file by temp + fsync + rename in the same directory. */
export async function atomicWrite(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = `${path}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`
  try {
    const fh = await open(tmp, 'wx', mode)
    try {
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, {force: true})
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new RegistryClientError('DISK_FULL', `${path}: no space left on the device (${code}); nothing was changed`, {cause: err})
    }
    throw err
  }
}
