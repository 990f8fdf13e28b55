// Runs the real CLI (bin/kit) in a child process, as a user would: stdin from `input`, stdout and
// stderr collected, stdout parsed as JSON when it is JSON. A run longer than `timeoutMs` is killed.
import {spawn} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import tar from 'tar-stream'
import {kitBin, repoRoot} from './paths.js'

export interface KitResult {
  /** Exit code (-1 when killed by a signal). */
  code: number
  stdout: string
  stderr: string
  json: any // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface RunKitOptions {
  env?: NodeJS.ProcessEnv
  input?: string
  cwd?: string
  timeoutMs?: number
}

export function runKit(args: string[], opts: RunKitOptions = {}): Promise<KitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [kitBin, ...args], {env: opts.env ?? process.env, cwd: opts.cwd ?? repoRoot, stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined
    child.on('error', reject)
    child.on('close', (code) => {
      if (timer) clearTimeout(timer)
      let json: unknown
      try {
        json = JSON.parse(stdout)
      } catch {
        json = undefined
      }
      resolve({code: code ?? -1, stdout, stderr, json})
    })
    child.stdin.end(opts.input ?? '')
  })
}

/** The kit error line of a run's stderr (other areas' notices may precede it). */
export function errorLine(stderr: string): string {
  return stderr.split('\n').filter((l) => l.startsWith('kit: ') && !l.includes('warning')).pop() ?? ''
}

/** A minimal root filesystem tarball (bin/ and a fake bin/sh), for `kit image import`. */
export async function writeTinyRootfs(file: string): Promise<void> {
  const pack = tar.pack()
  const chunks: Buffer[] = []
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer)
  })
  const ended = new Promise<void>((r) => pack.on('end', () => r()))
  pack.entry({name: 'bin/', type: 'directory'})
  pack.entry({name: 'bin/sh', mode: 0o755}, '#!fake\n')
  pack.finalize()
  await ended
  writeFileSync(file, Buffer.concat(chunks))
}
