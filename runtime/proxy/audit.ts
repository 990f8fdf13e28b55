// The audit log: one JSON line per decision the proxy makes (a CONNECT, a request, an upgrade, a
// refused malformed request). It names the rule and its source, the status and the bytes each
// way, the credential services injected and how many injected values were taken out of the
// response (redacted), never a value, a header, or a query string.
import {createWriteStream, mkdirSync, type WriteStream} from 'node:fs'
import {dirname} from 'node:path'

export interface AuditEntry {
  time: string
  sandbox?: string
  /**
   * connect (a tunnel), request, upgrade, error (a request refused before it could be judged), or
   * policy (the policy was reloaded: `added` and `removed` name the rules that changed).
   */
  kind: 'connect' | 'request' | 'upgrade' | 'error' | 'policy'
  method?: string
  host?: string
  port?: number
  /** The path without its query string. */
  path?: string
  decision: 'allow' | 'deny' | 'error' | 'reload'
  rule?: string
  source?: string
  reason?: string
  status?: number
  /** Bytes from the client towards the upstream, and back. */
  bytesUp: number
  bytesDown: number
  durationMs: number
  /** The services whose credentials were injected. */
  credentials?: string[]
  /** How many injected secret values were taken out of the response (headers and body). */
  redacted?: number
  /** Whether the proxy terminated TLS (intercepted) for this connection. */
  intercepted?: boolean
  /** The address the proxy connected to. */
  address?: string
  /** For a policy reload: the rules that came and went, as `EFFECT RULE (SOURCE)`. */
  added?: string[]
  removed?: string[]
}

export class AuditLog {
  private stream: WriteStream | undefined
  private readonly listeners = new Set<(e: AuditEntry) => void>()

  constructor(
    readonly path: string | undefined,
    readonly sandbox?: string,
  ) {
    if (path) {
      mkdirSync(dirname(path), {recursive: true})
      this.stream = createWriteStream(path, {flags: 'a', mode: 0o600})
      this.stream.on('error', (e) => process.stderr.write(`kit: audit log ${path}: ${e.message}\n`))
    }
  }

  /** Also hand every entry to a function (tests, the runtime's own accounting). */
  onEntry(fn: (e: AuditEntry) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  write(e: Omit<AuditEntry, 'time' | 'sandbox'>): void {
    const entry: AuditEntry = {time: new Date().toISOString(), ...(this.sandbox ? {sandbox: this.sandbox} : {}), ...e}
    if (entry.path !== undefined) entry.path = stripQuery(entry.path)
    this.stream?.write(JSON.stringify(entry) + '\n')
    for (const fn of this.listeners) fn(entry)
  }

  close(): Promise<void> {
    const s = this.stream
    this.stream = undefined
    if (!s) return Promise.resolve()
    return new Promise((resolve) => s.end(resolve))
  }
}

function stripQuery(path: string): string {
  const q = path.search(/[?#]/)
  const p = q >= 0 ? path.slice(0, q) : path
  return p.length > 2048 ? p.slice(0, 2048) + '…' : p
}
