// The processes of a sandbox: the `kit run` process that owns it and its descendants (QEMU and
// the guestfwd connectors), read from /proc.
import {readdirSync, readFileSync} from 'node:fs'

export function childrenOf(pid: number): number[] {
  const out: number[] = []
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const c = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim()
      if (c) out.push(...c.split(/\s+/).map(Number))
    }
  } catch {
    /* gone */
  }
  return out
}

/** A process and all its descendants. */
export function processTree(pid: number): number[] {
  const seen: number[] = []
  const queue = [pid]
  while (queue.length) {
    const p = queue.shift()!
    if (seen.includes(p)) continue
    seen.push(p)
    queue.push(...childrenOf(p))
  }
  return seen
}


export function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return ''
  }
}

export function cmdlineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  } catch {
    return []
  }
}
