// Progress of a push or pull, on stderr, in one of three modes:
//   bar:   on a terminal, one line redrawn at most every 100 ms and cleared at the end;
//   lines: without a terminal (CI logs, pipes) or in CI, one line per blob and stage, as docker
//          prints them: "sha256:ab12cd34ef56… pushing 77.6 MB", "… pushed 77.6 MB",
//          "… already present", "… mounted from team/base";
//   off:   with --json or --quiet.
// Sizes in decimal units (cli/units.ts). The events come from registry-client (ProgressEvent).
import type {ProgressEvent} from '../registry-client/target.js'
import {formatBytes} from './units.js'

export type ProgressMode = 'bar' | 'lines' | 'off'

export interface ProgressDisplay {
  onProgress: ((event: ProgressEvent) => void) | undefined
  /** Clears the bar. */
  done(): void
}

export interface ProgressVerbs {
  /** "pushing" */
  active: string
  /** "pushed" */
  done: string
}

export function progressMode(stream: NodeJS.WriteStream, opts: {json?: boolean; quiet?: boolean}, env: NodeJS.ProcessEnv = process.env): ProgressMode {
  if (opts.json || opts.quiet) return 'off'
  return stream.isTTY === true && !env.CI && env.TERM !== 'dumb' ? 'bar' : 'lines'
}

/** sha256:ab12cd34ef56… (12 hex digits, as docker shortens ids). */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':')
  return `${digest.slice(0, colon + 1 + 12)}…`
}

export function progressDisplay(label: string, verbs: ProgressVerbs, stream: NodeJS.WriteStream, mode: ProgressMode): ProgressDisplay {
  if (mode === 'off') return {onProgress: undefined, done: () => {}}
  if (mode === 'lines') return lineDisplay(label, verbs, stream)
  return barDisplay(label, stream)
}

function lineDisplay(label: string, verbs: ProgressVerbs, stream: NodeJS.WriteStream): ProgressDisplay {
  let started = false
  const line = (text: string) => {
    if (!started) {
      stream.write(`${label}\n`)
      started = true
    }
    stream.write(`${text}\n`)
  }
  return {
    onProgress(event) {
      const id = shortDigest(event.descriptor.digest)
      switch (event.type) {
        case 'skip':
          line(`${id} already present`)
          break
        case 'mount':
          line(`${id} mounted from ${event.from}`)
          break
        case 'start':
          line(`${id} ${verbs.active} ${formatBytes(event.descriptor.size)}`)
          break
        case 'done':
          line(`${id} ${verbs.done} ${formatBytes(event.bytes)}`)
          break
        case 'progress':
          break
      }
    },
    done() {},
  }
}

function barDisplay(label: string, stream: NodeJS.WriteStream): ProgressDisplay {
  const sizes = new Map<string, number>()
  const bytes = new Map<string, number>()
  let skipped = 0
  let last = 0
  let drawn = false
  const draw = (force = false) => {
    const now = Date.now()
    if (!force && now - last < 100) return
    last = now
    let total = 0
    let done = 0
    for (const [d, size] of sizes) {
      total += size
      done += Math.min(size, bytes.get(d) ?? 0)
    }
    const pct = total > 0 ? Math.floor((done / total) * 100) : 100
    const width = 24
    const filled = Math.round((pct / 100) * width)
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${formatBytes(done)}/${formatBytes(total)}${skipped ? `, ${skipped} present` : ''}`
    stream.write(`\r${line.slice(0, (stream.columns ?? 80) - 1)}\x1b[K`)
    drawn = true
  }
  return {
    onProgress(event) {
      const d = event.descriptor.digest
      switch (event.type) {
        case 'skip':
        case 'mount':
          skipped++
          break
        case 'start':
          sizes.set(d, event.descriptor.size)
          break
        case 'progress':
        case 'done':
          sizes.set(d, event.descriptor.size)
          bytes.set(d, event.bytes)
          break
      }
      draw(event.type === 'done')
    },
    done() {
      if (drawn) stream.write('\r\x1b[K')
    },
  }
}
