// `kit exec` into a running VM and a terminal run, at the driver level: one VM whose command waits
// for a file while commands run beside it through the exec channel, then one VM with a terminal
// (the guest's virtio console) typed into from a stream.
import assert from 'node:assert/strict'
import {existsSync, mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough, Writable} from 'node:stream'
import {QemuDriver} from '../../runtime/vm/qemu.js'
import type {RunningSandbox, VmResult} from '../../runtime/vm/driver.js'
import {EMPTY_PLAN} from '../../runtime/vm/plan.js'
import type {VmTestAssets} from './support.js'
import {shareAccelVerdict, vmSkipReason, vmTestAssets} from './support.js'

class Collect extends Writable {
  chunks: Buffer[] = []
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.chunks.push(chunk)
    cb()
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString('utf8')
  }
  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0)
  }
}

interface Ran {
  code?: number
  error?: Error
  stdout: string
  stderr: string
  stdoutBytes: number
}

async function run(sb: RunningSandbox, argv: string[], extra: {cwd?: string; env?: Record<string, string>; signal?: AbortSignal} = {}): Promise<Ran> {
  const stdout = new Collect()
  const stderr = new Collect()
  try {
    const code = await sb.exec(argv, {stdout, stderr, ...extra})
    return {code, stdout: stdout.text, stderr: stderr.text, stdoutBytes: stdout.bytes}
  } catch (error) {
    return {error: error as Error, stdout: stdout.text, stderr: stderr.text, stdoutBytes: stdout.bytes}
  }
}

const MAIN = String.raw`
ls /.kit/x >/dev/null 2>&1 && echo exec_share=visible || echo exec_share=hidden
i=0
while [ ! -e /workspace/stop ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
echo main-done
exit 5
`

describe('qemu driver: exec into the running VM, and a terminal run', function () {
  this.timeout(900_000)
  const skip = vmSkipReason()
  let assets: VmTestAssets | undefined
  let root: string
  let workspace: string
  let result: VmResult
  const ran: Record<string, Ran> = {}
  let afterStop: Ran

  before(async function () {
    if (skip) {
      console.log(`    (skipped: ${skip})`)
      this.skip()
    }
    assets = await vmTestAssets()
    root = mkdtempSync(join(tmpdir(), 'kit-vm-exec-'))
    workspace = join(root, 'ws')
    mkdirSync(workspace)
    const driver = new QemuDriver({imageCacheDir: assets.imageCacheDir})
    let checks: Promise<void> | undefined
    let sandbox: RunningSandbox | undefined
    result = await driver.run({
      name: 'exec-test',
      rootfs: assets.rootfs,
      rootfsId: assets.rootfs,
      kitLayers: [],
      workspace,
      env: {KIT_TEST_BASE: 'base'},
      plan: EMPTY_PLAN,
      command: ['sh', '-c', MAIN],
    }, {
      env: assets.env,
      onRunning: (sb) => {
        sandbox = sb
        checks = (async () => {
          const stop = new AbortController()
          const sleeper = run(sb, ['sleep', '300'], {signal: stop.signal})
          const [who, codes, where, big, fds] = await Promise.all([
            run(sb, ['sh', '-c', 'echo "$(id -u):$(id -g) $(pwd) $KIT_TEST_BASE $HOME"']),
            run(sb, ['sh', '-c', 'echo out; echo err >&2; exit 3']),
            run(sb, ['sh', '-c', 'pwd; printf "%s\\n" "$FOO"'], {cwd: '/tmp', env: {FOO: `it's "quoted" $HOME`}}),
            run(sb, ['sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" a']),
            run(sb, ['sh', '-c', 'ls /proc/$$/fd | tr "\\n" " "']),
          ])
          Object.assign(ran, {who, codes, where, big, fds})
          ran.quoted = await run(sb, ['printf', '%s|', 'a b', "c'd", '$HOME', ''])
          ran.missing = await run(sb, ['/no/such/program'])
          ran.ls = await run(sb, ['ls', '--version'])
          ran.missingName = await run(sb, ['no-such-program'])
          ran.badCwd = await run(sb, ['pwd'], {cwd: '/no/such/dir'})
          stop.abort()
          ran.sleeper = await sleeper
          ran.stop = await run(sb, ['touch', '/workspace/stop'])
        })()
      },
    })
    await checks
    shareAccelVerdict(assets)
    afterStop = await run(sandbox!, ["true"])
  })

  after(() => {
    if (assets) rmSync(assets.kitHome, {recursive: true, force: true})
    if (root) rmSync(root, {recursive: true, force: true})
  })

  it('runs commands as the agent in the workspace with the agent environment', () => {
    assert.equal(ran.who!.error, undefined)
    assert.equal(ran.who!.code, 0)
    assert.equal(ran.who!.stdout.trim(), '1000:1000 /workspace base /home/agent')
  })

  it('returns each command\'s exit code, stdout and stderr separately (commands run concurrently)', () => {
    assert.equal(ran.codes!.code, 3)
    assert.equal(ran.codes!.stdout, 'out\n')
    assert.equal(ran.codes!.stderr, 'err\n')
  })

  it('takes a working directory and extra environment, quoting every byte', () => {
    assert.equal(ran.where!.stdout, `/tmp\nit's "quoted" $HOME\n`)
    assert.equal(ran.quoted!.stdout, `a b|c'd|$HOME||`)
  })

  it('streams large output whole', () => {
    assert.equal(ran.big!.code, 0)
    assert.equal(ran.big!.stdoutBytes, 3_000_000)
  })

  it('gives the command none of the init\'s descriptors (status, log, exec port)', () => {
    const fds = ran.fds!.stdout.trim().split(/\s+/).map(Number)
    assert.ok(fds.every((fd) => fd <= 3 || fd >= 10), `open fds: ${ran.fds!.stdout}`)
    assert.ok(!fds.includes(6) && !fds.includes(7) && !fds.includes(8), `open fds: ${ran.fds!.stdout}`)
  })

  it('hides the exec share from the agent', () => {
    assert.match(result.stdout.toString(), /exec_share=hidden/)
  })

  it('runs the image\'s programs, not busybox applets of the same name', () => {
    assert.match(ran.ls!.stdout, /GNU coreutils/)
  })

  it('reports a missing program as exit 127 and a missing working directory as 126, and kills a command whose caller gives up', () => {
    assert.equal(ran.missing!.code, 127)
    assert.equal(ran.missingName!.code, 127)
    assert.match(ran.missingName!.stderr, /no-such-program: command not found/)
    assert.equal(ran.badCwd!.code, 126)
    assert.match(ran.badCwd!.stderr, /\/no\/such\/dir: no such directory/)
    assert.equal(ran.sleeper!.error, undefined)
    assert.equal(ran.sleeper!.code, 143)
  })

  it('leaves the main command running until it ends on its own', () => {
    assert.equal(ran.stop!.code, 0)
    assert.equal(result.exitCode, 5)
    assert.match(result.stdout.toString(), /main-done/)
  })

  it('refuses exec once the sandbox has stopped', () => {
    assert.equal(afterStop.code, undefined)
    assert.match(afterStop.error!.message, /not running/)
    assert.equal(existsSync(join(workspace, 'stop')), true)
  })

  describe('a terminal run', () => {
    let tty: VmResult
    let screen = ''
    before(async function () {
      if (!assets) this.skip()
      const input = new PassThrough()
      const output = new Collect()
      const driver = new QemuDriver({imageCacheDir: assets!.imageCacheDir})
      const typed = (text: string) => input.write(text)
      tty = await driver.run({
        name: 'tty-test',
        rootfs: assets!.rootfs,
        rootfsId: assets!.rootfs,
        kitLayers: [],
        workspace,
        env: {},
        plan: EMPTY_PLAN,
        command: ['sh'],
      }, {
        env: {...assets!.env, TERM: 'xterm-256color'},
        terminal: {input, output, rows: 30, cols: 100},
        onRunning: (sb) => {
          void (async () => {
            // Type once the shell shows its prompt (what is typed before a program reads it is flushed).
            for (let i = 0; i < 600 && !output.text.includes('$ '); i++) await new Promise((r) => setTimeout(r, 100))
            typed('echo "tty=$(tty) size=$(stty size) term=$TERM uid=$(id -u)"\n')
            for (let i = 0; i < 600 && !output.text.includes('uid=1000'); i++) await new Promise((r) => setTimeout(r, 100))
            sb.resize!(40, 120)
            await new Promise((r) => setTimeout(r, 500))
            typed('echo "resized=$(stty size)"\n')
            for (let i = 0; i < 600 && !output.text.includes('resized=4'); i++) await new Promise((r) => setTimeout(r, 100))
            typed('exit 7\n')
          })()
        },
      })
      screen = output.text
    })

    it('runs the command on a terminal of its own, sized as asked, as the agent', () => {
      assert.match(screen, /tty=\/dev\/hvc0 size=30 100 term=xterm-256color uid=1000/)
    })

    it('passes a resize on to the terminal', () => {
      assert.match(screen, /resized=40 120/)
    })

    it('exits with the program\'s exit code', () => {
      assert.equal(tty.exitCode, 7)
    })
  })
})
