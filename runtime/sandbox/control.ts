// The control socket of a running sandbox: `kit exec` (another process) reaches the `kit run`
// process that owns the VM or container through $KIT_HOME/sandboxes/NAME/control.sock (0600).
// A client sends one JSON line {argv, cwd?, env?}; the server answers with frames of
// [type u8][length u32 BE][payload]: 1 stdout bytes, 2 stderr bytes, 3 exit {"exitCode"},
// 4 error {"code","message"}. A client that goes away kills its command.
import {createHash} from 'node:crypto'
import {chmod, rm} from 'node:fs/promises'
import {createConnection, createServer, type Server, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import type {RunningSandbox} from '../vm/driver.js'
import {SandboxError} from './errors.js'

const STDOUT = 1
const STDERR = 2
const EXIT = 3
const ERROR = 4
const MAX_REQUEST = 1024 * 1024

export interface ExecRequest {
  argv: string[]
  cwd?: string
  env?: Record<string, string>
}

/** Where a sandbox's control socket lives (a short path in the temp dir when the natural one is too long for a unix socket). */
export function controlSocketPath(dir: string): string {
  const natural = join(dir, 'control.sock')
  if (Buffer.byteLength(natural) <= 100) return natural
  return join(tmpdir(), `kit-ctl-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}.sock`)
}

function frame(type: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head.writeUInt8(type, 0)
  head.writeUInt32BE(payload.length, 1)
  return Buffer.concat([head, payload])
}

/** A writable that sends what it gets as frames of `type`. */
function framed(sock: Socket, type: number): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (sock.destroyed) return cb()
      sock.write(frame(type, chunk), () => cb())
    },
  })
}

export interface ControlServer {
  path: string
  close(): Promise<void>
}

/** Serves exec requests for `sandbox` on `path`. */
export async function serveControl(path: string, sandbox: RunningSandbox): Promise<ControlServer> {
  await rm(path, {force: true})
  const clients = new Set<Socket>()
  const server: Server = createServer((sock) => {
    clients.add(sock)
    sock.on('close', () => clients.delete(sock))
    sock.on('error', () => {})
    let buf = ''
    const onData = (b: Buffer) => {
      buf += b.toString('utf8')
      if (buf.length > MAX_REQUEST) return sock.destroy()
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      sock.off('data', onData)
      void handle(sock, buf.slice(0, nl))
    }
    sock.on('data', onData)
  })
  const handle = async (sock: Socket, line: string) => {
    const abort = new AbortController()
    sock.on('close', () => abort.abort())
    let code: number
    try {
      const req = JSON.parse(line) as ExecRequest
      if (!Array.isArray(req.argv) || req.argv.length === 0 || !req.argv.every((a) => typeof a === 'string')) throw new SandboxError('USAGE', 'exec: argv must be a non-empty list of strings')
      code = await sandbox.exec(req.argv, {
        stdout: framed(sock, STDOUT),
        stderr: framed(sock, STDERR),
        ...(typeof req.cwd === 'string' ? {cwd: req.cwd} : {}),
        ...(req.env && typeof req.env === 'object' ? {env: req.env} : {}),
        signal: abort.signal,
      })
    } catch (error) {
      const e = error as Error & {code?: string}
      sock.end(frame(ERROR, Buffer.from(JSON.stringify({code: e.code ?? 'EXEC', message: e.message.split('\n')[0]}))))
      return
    }
    sock.end(frame(EXIT, Buffer.from(JSON.stringify({exitCode: code}))))
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => resolve())
  })
  await chmod(path, 0o600)
  return {
    path,
    close: async () => {
      for (const c of clients) c.destroy()
      await new Promise<void>((r) => server.close(() => r()))
      await rm(path, {force: true})
    },
  }
}

/** Runs a command through a sandbox's control socket; resolves to its exit code. */
export function execViaControl(path: string, req: ExecRequest, io: {stdout: Writable; stderr: Writable}, name = 'the sandbox'): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path)
    let buf: Buffer = Buffer.alloc(0)
    let settled = false
    const settle = (f: () => void) => {
      if (settled) return
      settled = true
      f()
    }
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'))
    sock.on('data', (b: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, b]) : b
      while (buf.length >= 5) {
        const len = buf.readUInt32BE(1)
        if (buf.length < 5 + len) break
        const type = buf[0]
        const payload = buf.subarray(5, 5 + len)
        buf = buf.subarray(5 + len)
        if (type === STDOUT) io.stdout.write(payload)
        else if (type === STDERR) io.stderr.write(payload)
        else if (type === EXIT) settle(() => resolve(Number((JSON.parse(payload.toString()) as {exitCode: number}).exitCode)))
        else if (type === ERROR) {
          const e = JSON.parse(payload.toString()) as {code: string; message: string}
          settle(() => reject(new SandboxError('EXEC', `${name}: ${e.message}`)))
        }
      }
    })
    sock.on('error', (e: NodeJS.ErrnoException) => settle(() => reject(new SandboxError('SANDBOX_STATE', `${name} is not reachable (${e.code ?? e.message}): is it running?`))))
    sock.on('close', () => settle(() => reject(new SandboxError('SANDBOX_STATE', `${name} stopped before the command finished`))))
  })
}
