// The guest's status protocol, read by every driver (runtime/guest/stage2.sh writes it): one line
// per event: `boot UPTIME`, `step STAGE INDEX`, `start UPTIME`, `exit CODE`,
// `fail STAGE INDEX CODE MESSAGE` (stage 1: `fail stage1 MESSAGE`).

export class GuestStatus {
  readonly lines: string[] = []
  private buf = ''
  /** When the guest was started (ms since the epoch); bootMs counts from here. */
  t0 = 0
  /** From t0 to the `start` line (the command's first instruction); -1 before it. */
  bootMs = -1
  /** Guest uptime (s) at `start`. */
  guestUptimeAtStart?: number
  /** Called at the `boot` line (stage 2 runs). */
  onBoot?: () => void
  /** Called at the `start` line. */
  onStart?: () => void

  /** Bytes from the status channel. */
  write(b: Buffer): void {
    this.buf += b.toString('utf8')
    let nl
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim()
      this.buf = this.buf.slice(nl + 1)
      if (!line) continue
      this.lines.push(line)
      if (line.startsWith('boot ')) this.onBoot?.()
      if (line.startsWith('start ') && this.bootMs < 0) {
        this.bootMs = Date.now() - this.t0
        this.guestUptimeAtStart = Number(line.split(' ')[1])
        this.onStart?.()
      }
    }
  }

  get booted(): boolean {
    return this.lines.some((l) => l.startsWith('boot '))
  }

  get started(): boolean {
    return this.bootMs >= 0
  }

  /** The command's exit code, when the guest reported one. */
  get exitCode(): number | undefined {
    const line = this.lines.find((l) => l.startsWith('exit '))
    return line === undefined ? undefined : Number(line.split(' ')[1])
  }

  /** What failed in the guest, in words, when something did. */
  get failure(): string | undefined {
    const line = this.lines.find((l) => l.startsWith('fail '))
    return line === undefined ? undefined : failureMessage(line)
  }
}

/** `fail STAGE INDEX CODE MESSAGE` (or `fail stage1 MESSAGE`) in words. */
export function failureMessage(fail: string): string {
  const [, stage, index, code, ...msg] = fail.split(' ')
  if (stage === 'stage1') return `guest init failed: ${[index, code, ...msg].filter((w) => w !== undefined).join(' ')}`
  return `guest ${stage}[${index}] failed (exit ${code}): ${msg.join(' ')}`
}
