// A one-line progress bar for copies, on a terminal only: never when stderr is not a TTY, in CI
// (CI set), or when the command prints JSON. Redrawn at most every 100 ms.
import type {ProgressEvent} from './target.js'

export interface ProgressDisplay {
  onProgress: ((event: ProgressEvent) => void) | undefined
  /** Clears the line. */
  done(): void
}

export function shouldShowProgress(stream: NodeJS.WriteStream, json: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  return !json && stream.isTTY === true && !env.CI && env.TERM !== 'dumb'
}

export function progressDisplay(label: string, stream: NodeJS.WriteStream, enabled: boolean): ProgressDisplay {
  if (!enabled) return {onProgress: undefined, done: () => {}}
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
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${mb(done)}/${mb(total)}${skipped ? `, ${skipped} present` : ''}`
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

function mb(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${(n / 1024).toFixed(0)} kB`
}
