// `kit exec` into a running sandbox and `kit run --tty`, end to end through the CLI: the sample
// agent in a real VM, started by one `kit run` process; other `kit exec` processes run commands
// in it through its control socket; then a terminal run typed into through a pipe.
import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {importSampleImage, sampleAgentSkipReason} from '../support/upstreams.js'
import {runKit, type KitResult} from '../support/cli.js'
import {kitBin, repoRoot, sampleKitsDir} from '../support/paths.js'
import {processesMentioning, shareAccelVerdict, vmTestAssets, type VmTestAssets} from '../vm/support.js'


function started(child: ChildProcess): Promise<{code: number; stdout: string; stderr: string}> {
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve) => child.on('close', (code) => resolve({code: code ?? -1, stdout, stderr})))
}

describe('kit exec into a running sandbox, kit run --tty (CLI, one real VM each)', function () {
  this.timeout(600_000)
  let assets: VmTestAssets
  let env: NodeJS.ProcessEnv
  let ws: string
  let main: Promise<{code: number; stdout: string; stderr: string}>
  let mainChild: ChildProcess
  const execs: Record<string, KitResult> = {}
  let listed: any // eslint-disable-line @typescript-eslint/no-explicit-any

  before(async function () {
    const skip = sampleAgentSkipReason()
    if (skip) {
      console.log(`      (skipped: ${skip})`)
      this.skip()
    }
    assets = await vmTestAssets()
    env = {...assets.env, DBUS_SESSION_BUS_ADDRESS: ''}
    importSampleImage(env)
    ws = join(assets.kitHome, 'ws')
    mkdirSync(ws)
    // The agent's command waits for a file that a `kit exec` creates.
    mainChild = spawn(process.execPath, [kitBin, 'run', join(sampleKitsDir, 'shell-agent'), '--workspace', ws, '--name', 'demo', '--',
      'sh', '-c', 'echo agent-up; i=0; while [ ! -e /workspace/stop ] && [ $i -lt 3000 ]; do sleep 0.1; i=$((i+1)); done; echo agent-done; exit 9'],
    {env, cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe']})
    main = started(mainChild)
    // Running once `kit ls` shows it running with its control socket.
    for (let i = 0; i < 900; i++) {
      const ls = await runKit(['ls', '--json'], {env})
      const sb = ls.json?.sandboxes?.find((s: {name: string}) => s.name === 'demo')
      if (sb?.state === 'running' && existsSync(join(assets.kitHome, 'sandboxes', 'demo', 'control.sock'))) break
      if (mainChild.exitCode !== null) break
      await new Promise((r) => setTimeout(r, 200))
    }
    listed = (await runKit(['ls', '--json'], {env})).json
    const [a, b] = await Promise.all([
      runKit(['exec', 'demo', '--', 'sh', '-c', 'echo "$(id -un) $(pwd)"; echo err >&2; exit 4'], {env}),
      runKit(['exec', 'demo', '--json', '--workdir', '/tmp', '--', 'pwd'], {env}),
    ])
    execs.a = a
    execs.b = b
    execs.ps = await runKit(['exec', 'demo', '--', 'sh', '-c', 'grep -l "[a]gent-up" /proc/[0-9]*/cmdline 2>/dev/null | wc -l'], {env})
    execs.stop = await runKit(['exec', 'demo', '--', 'touch', '/workspace/stop'], {env})
    const m = await main
    execs.main = {...m, json: undefined}
    execs.after = await runKit(['exec', 'demo', '--', 'cat', '/workspace/stop'], {env, timeoutMs: 300_000})
    shareAccelVerdict(assets)
  })

  after(() => {
    if (mainChild && mainChild.exitCode === null) mainChild.kill('SIGKILL')
  })

  it('shows the running sandbox in kit ls', () => {
    const sb = listed.sandboxes.find((s: {name: string}) => s.name === 'demo')
    assert.equal(sb.state, 'running')
  })

  it('runs commands in the running sandbox as the agent, in the workspace, with their own exit codes and streams', () => {
    assert.equal(execs.a!.code, 4, execs.a!.stderr)
    assert.equal(execs.a!.stdout, 'agent /workspace\n')
    assert.match(execs.a!.stderr, /^err$/m)
  })

  it('takes --workdir, and with --json prints the result object (output on stderr)', () => {
    assert.equal(execs.b!.code, 0, execs.b!.stderr)
    assert.equal(execs.b!.json.exitCode, 0)
    assert.equal(execs.b!.json.running, true)
    assert.equal(execs.b!.json.driver, 'qemu')
    assert.match(execs.b!.stderr, /^\/tmp$/m)
  })

  it('runs beside the agent\'s command, in the same VM', () => {
    assert.equal(execs.ps!.stdout.trim(), '1')
  })

  it('leaves the agent\'s command to end on its own', () => {
    assert.equal(execs.stop!.code, 0)
    assert.equal(execs.main!.code, 9, execs.main!.stderr)
    assert.match(execs.main!.stdout, /agent-up\nagent-done/)
  })

  it('boots the sandbox afresh for a command once it is not running', () => {
    assert.equal(execs.after!.code, 0, execs.after!.stderr)
    assert.match(execs.after!.stderr, /not running: running the command in a fresh boot/)
    assert.equal(existsSync(join(assets.kitHome, 'sandboxes', 'demo', 'control.sock')), false)
  })

  it('kit run --tty runs the command on a terminal, typed into from stdin', async () => {
    const child = spawn(process.execPath, [kitBin, 'run', '--name', 'demo', '--tty', '--report', join(assets.kitHome, 'tty.json'), '--', 'sh'], {env: {...env, TERM: 'vt100'}, cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe']})
    const done = started(child)
    let screen = ''
    child.stdout!.on('data', (d: Buffer) => {
      screen += d.toString()
      if (screen.endsWith('$ ') && !screen.includes('typed')) {
        screen += '(typed)'
        child.stdin!.write('echo "on=$(tty) term=$TERM"; exit 6\n')
      }
    })
    const r = await done
    assert.equal(r.code, 6, r.stderr)
    assert.match(r.stdout, /on=\/dev\/hvc0 term=vt100/)
    assert.equal(JSON.parse(readFileSync(join(assets.kitHome, 'tty.json'), 'utf8')).exitCode, 6)
  })

  it('kit run --detach returns once the sandbox runs; it holds for kit exec until kit stop', async () => {
    const ws2 = join(assets.kitHome, 'ws-bg')
    mkdirSync(ws2)
    const started = await runKit(['run', '--detach', '--name', 'bg', join(sampleKitsDir, 'shell-agent'), '--workspace', ws2, '--json'], {env, timeoutMs: 300_000})
    assert.equal(started.code, 0, started.stderr)
    assert.equal(started.json.name, 'bg')
    const ex = await runKit(['exec', 'bg', '--', 'sh', '-c', 'echo "$((6*7)) $(id -un)"'], {env})
    assert.equal(ex.code, 0, ex.stderr)
    assert.equal(ex.stdout, '42 agent\n')
    const stop = await runKit(['stop', 'bg'], {env})
    assert.equal(stop.code, 0, stop.stderr)
    const ls = await runKit(['ls', '--json'], {env})
    assert.equal(ls.json.sandboxes.find((s: {name: string}) => s.name === 'bg').state, 'stopped')
    assert.deepEqual(processesMentioning(ws2), [])
  })

  it('kit run --detach says why a sandbox did not start, and needs an agent or --name (without --name it picks one: test/runtime/run-papercuts)', async () => {
    const noName = await runKit(['run', '--detach', '--workspace', ws], {env})
    assert.equal(noName.code, 2)
    assert.match(noName.stderr, /name an agent kit, or --name of an existing sandbox/)
    const bad = await runKit(['run', '--detach', '--name', 'bad', join(sampleKitsDir, 'shell-agent'), '--workspace', '/'], {env})
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /^kit: sandbox bad did not start: refusing \/ as the workspace/m)
    assert.equal(existsSync(join(assets.kitHome, 'sandboxes', 'bad')), false)
  })
})
