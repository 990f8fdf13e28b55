// Helpers for the build tests: reading a layer back with tar-stream, snapshotting a store.
import {createReadStream, readdirSync, readFileSync, statSync} from 'node:fs'
import {join, relative} from 'node:path'
import {tarGzEntries} from '../../kit-compiler/artifact.js'

export interface ReadEntry {
  name: string
  type: string
  mode: number
  uid: number
  gid: number
  uname: string
  gname: string
  mtime: number
  size: number
  content?: string
}

/** Every entry of a tar.gz file, in order, with the content of files. */
export async function readLayer(path: string): Promise<ReadEntry[]> {
  const out: ReadEntry[] = []
  for await (const entry of tarGzEntries(createReadStream(path))) {
    const h = entry.header
    const chunks: Buffer[] = []
    for await (const c of entry) chunks.push(c as Buffer)
    out.push({
      name: h.name,
      type: h.type ?? 'file',
      mode: h.mode ?? 0,
      uid: h.uid ?? -1,
      gid: h.gid ?? -1,
      uname: h.uname ?? '',
      gname: h.gname ?? '',
      mtime: h.mtime ? h.mtime.getTime() : -1,
      size: h.size ?? 0,
      ...(h.type === 'file' ? {content: Buffer.concat(chunks).toString('utf8')} : {}),
    })
  }
  return out
}

/** path → size and sha of every file under a directory (what "nothing changed" compares). */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      const st = statSync(p)
      if (st.isDirectory()) walk(p)
      else out[relative(dir, p)] = `${st.size}:${readFileSync(p).toString('base64').slice(0, 64)}`
    }
  }
  walk(dir)
  return out
}
