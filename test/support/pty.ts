// Runs a command in a pseudo-terminal (python3's pty module: no native dependency), as a person at
// a terminal would: waits for each expected prompt, types the answer, and collects everything the
// terminal showed. For the behaviour that is about a TTY (prompts, hidden input, progress bars).
import {spawn} from 'node:child_process'

export interface PtyStep {
  /** A regular expression (Python syntax) the output must show before `send` is typed. */
  expect: string
  /** Typed after the prompt, followed by a carriage return. */
  send: string
}

export interface PtyResult {
  code: number
  /** Everything the terminal showed (stdout and stderr together, with \r\n line ends). */
  output: string
}

const DRIVER = String.raw`
import json, os, pty, re, select, sys, time
cmd, steps, timeout = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
out = b''
deadline = time.time() + timeout
since = 0
def pump(until=None):
    global out
    while time.time() < deadline:
        if until is not None and re.search(until.encode(), out[since:]):
            return True
        r, _, _ = select.select([fd], [], [], 0.1)
        if fd in r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return until is None
            if not chunk:
                return until is None
            out += chunk
    return False
for step in steps:
    if not pump(step['expect']):
        sys.stdout.write(json.dumps({'code': -1, 'output': out.decode('utf-8', 'replace') + '\n[pty: timed out waiting for ' + step['expect'] + ']'}))
        os.kill(pid, 9)
        sys.exit(0)
    since = len(out)
    os.write(fd, (step['send'] + '\r').encode())
pump()
code = -1
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        break
    if time.time() >= deadline:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        out += b'\n[pty: killed at the timeout]'
        break
    time.sleep(0.05)
sys.stdout.write(json.dumps({'code': code, 'output': out.decode('utf-8', 'replace')}))
`

export function runInPty(cmd: string[], steps: PtyStep[], opts: {env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number} = {}): Promise<PtyResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', DRIVER, JSON.stringify(cmd), JSON.stringify(steps), String((opts.timeoutMs ?? 60_000) / 1000)], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', () => {
      try {
        resolve(JSON.parse(stdout) as PtyResult)
      } catch {
        reject(new Error(`pty driver failed: ${stderr || stdout}`))
      }
    })
  })
}
