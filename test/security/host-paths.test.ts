// Host-side promises of issue 10 that do not need a VM: the exec share is never resolved through a
// path the guest can change (the guest is played by the `send` callback, which acts on the share
// the moment the host asks it to run, as a guest racing the host would), a kit's spec.yaml that is
// a symlink out of the kit is refused, sandbox state is private to the user, QEMU's confinement
// holds as root and as an unprivileged host user, and idle connectors time out. Threat model:
// docs/security.md (Host side).
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {chmodSync, chownSync, closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import {validateKit} from '../../kit-compiler/load.js'
import {writeState, sandboxDir} from '../../runtime/sandbox/state.js'
import {GuestExecChannel} from '../../runtime/vm/exec-channel.js'
import {confinedArgv, connectorCommand} from '../../runtime/vm/qemu.js'
import {hostFilter} from '../../runtime/vm/seccomp.js'
import {runKit} from '../support/cli.js'
import {cleanupKits, makeKit, mixin} from '../support/kit-dir.js'

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], {encoding: 'utf8'})
  return r.status === 0 ? r.stdout.trim() : undefined
}

/** Runs the exec channel once, the guest acting through `guest(requestDir)` when asked to run. */
async function execWithGuest(share: string, guest: (requestDir: string) => void): Promise<string> {
  let channel!: GuestExecChannel
  channel = new GuestExecChannel(share, (line) => {
    const [verb, id] = line.trim().split(' ')
    if (verb === 'run' && id) {
      guest(join(share, id))
      setTimeout(() => channel.onData(Buffer.from(`done ${id} 0\n`)), 300)
    }
    return true
  })
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let text = ''
  stdout.on('data', (b) => (text += b))
  stderr.on('data', (b) => (text += b))
  try {
    await channel.exec(['true'], {stdout, stderr})
  } finally {
    channel.close(new Error('test over'))
  }
  return text
}

describe('security, host side: paths the guest or a kit can point elsewhere', function () {
  let root: string
  let canary: string

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'kit-sec-paths-'))
    canary = join(root, 'host-secret.txt')
    writeFileSync(canary, 'host-only-canary\n')
  })
  after(() => {
    rmSync(root, {recursive: true, force: true})
    cleanupKits()
  })

  describe('the kit exec share', () => {
    it('the host does not read a host file through a symlink the guest puts in the exec share', async () => {
      const share = join(root, 'share1')
      mkdirSync(share, {mode: 0o700})
      const out = await execWithGuest(share, (d) => {
        for (const f of ['stdout', 'stderr']) {
          unlinkSync(join(d, f))
          symlinkSync(canary, join(d, f))
        }
      })
      assert.ok(!out.includes('host-only-canary'), `kit exec printed a host file: ${JSON.stringify(out)}`)
    })

    it('the host does not follow a request directory the guest swaps for a symlink', async () => {
      const share = join(root, 'share2')
      const elsewhere = join(root, 'elsewhere')
      mkdirSync(share, {mode: 0o700})
      mkdirSync(elsewhere)
      writeFileSync(join(elsewhere, 'stdout'), 'host-only-canary\n')
      writeFileSync(join(elsewhere, 'keep'), 'keep\n')
      const out = await execWithGuest(share, (d) => {
        rmSync(d, {recursive: true, force: true})
        symlinkSync(elsewhere, d)
      })
      assert.ok(!out.includes('host-only-canary'), `kit exec printed a host file: ${JSON.stringify(out)}`)
      assert.equal(readFileSync(join(elsewhere, 'stdout'), 'utf8'), 'host-only-canary\n', 'the host removed or changed a file outside the share')
      assert.ok(existsSync(join(elsewhere, 'keep')))
    })

    it('a FIFO the guest puts in place of an output file does not hang the host', async () => {
      const share = join(root, 'share3')
      mkdirSync(share, {mode: 0o700})
      const out = await execWithGuest(share, (d) => {
        unlinkSync(join(d, 'stdout'))
        spawnSync('mkfifo', [join(d, 'stdout')])
      })
      assert.equal(out, '')
    })
  })

  describe('kit loading', () => {
    it("a kit's spec.yaml that is a symlink out of the kit is refused with a located one-line error", async () => {
      const outside = makeKit(mixin('', 'outside-kit'))
      const kit = makeKit(mixin())
      unlinkSync(join(kit, 'spec.yaml'))
      symlinkSync(join(outside, 'spec.yaml'), join(kit, 'spec.yaml'))
      const r = await validateKit(kit)
      assert.equal(r.valid, false)
      const d = r.diagnostics.find((x) => x.code === 'spec-outside-kit')
      assert.ok(d, JSON.stringify(r.diagnostics))
      assert.match(d!.file, /spec\.yaml$/)
      const cli = await runKit(['validate', kit])
      assert.notEqual(cli.code, 0)
      const lines = cli.stderr.trim().split('\n').filter((l) => l.includes('outside the kit'))
      assert.equal(lines.length, 1, cli.stderr)
      assert.match(lines[0]!, /spec\.yaml.*symlink.*outside the kit/)
    })

    it("a kit's spec.yaml that is a symlink inside the kit still loads", async () => {
      const kit = makeKit(mixin(), {'real/spec.yaml': mixin()})
      unlinkSync(join(kit, 'spec.yaml'))
      symlinkSync('real/spec.yaml', join(kit, 'spec.yaml'))
      const r = await validateKit(kit)
      assert.equal(r.valid, true, JSON.stringify(r.diagnostics))
    })
  })

  describe('sandbox state', () => {
    it('a sandbox directory and its files are private to the user, old ones fixed on the next write', async () => {
      const env = {...process.env, KIT_HOME: join(root, 'home')}
      const dir = sandboxDir('old-one', env)
      mkdirSync(dir, {recursive: true, mode: 0o755})
      chmodSync(dir, 0o755)
      writeFileSync(join(dir, 'state.json'), '{"state":"stopped"}\n', {mode: 0o644})
      writeFileSync(join(dir, 'setup.log'), 'log\n', {mode: 0o644})
      chmodSync(join(dir, 'setup.log'), 0o644)
      await writeState('old-one', {state: 'stopped'}, env)
      assert.equal(statSync(dir).mode & 0o777, 0o700)
      assert.equal(statSync(join(dir, 'state.json')).mode & 0o777, 0o600)
      assert.equal(statSync(join(dir, 'setup.log')).mode & 0o777, 0o600)
      await writeState('new-one', {state: 'stopped'}, env)
      assert.equal(statSync(sandboxDir('new-one', env)).mode & 0o777, 0o700)
    })
  })

  describe("QEMU's confinement (the launcher kit runs QEMU with, running a shell instead)", () => {
    const ATTACK = 'cd "$1"; cp /bin/sh suid; chmod 4755 suid; cp /bin/sh sgid; chmod 2755 sgid; mknod dev c 1 3; ' +
      'perl -MFcntl -e \'sysopen(my $f, "created", O_CREAT|O_WRONLY, 06755)\'; cp /bin/sh exec; chmod 755 exec; true'

    function attackAs(user: 'self' | 'nobody'): string {
      const bwrap = which('bwrap')
      const filter = hostFilter()
      if (!bwrap || !filter) throw new Error('unreachable')
      const dir = mkdtempSync(join(root, `confine-${user}-`))
      const filterFile = join(dir, '..', `${user}.bpf`)
      writeFileSync(filterFile, filter, {mode: 0o644})
      let argv = confinedArgv(bwrap, ['sh', '-c', ATTACK, 'sh', dir])
      if (user === 'nobody') {
        chmodSync(root, 0o755)
        chownSync(dir, 65534, 65534)
        argv = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', ...argv]
      }
      const fd = openSync(filterFile, 'r')
      try {
        const r = spawnSync(argv[0]!, argv.slice(1), {stdio: ['ignore', 'pipe', 'pipe', fd], encoding: 'utf8'})
        assert.equal(r.status, 0, `the confined shell ran: ${r.stderr}`)
      } finally {
        closeSync(fd)
      }
      return dir
    }

    function check(dir: string): void {
      for (const f of ['suid', 'sgid', 'created']) {
        if (!existsSync(join(dir, f))) continue
        assert.equal(lstatSync(join(dir, f)).mode & 0o6000, 0, `${f} is setuid/setgid on the host`)
      }
      assert.ok(!existsSync(join(dir, 'dev')) || !lstatSync(join(dir, 'dev')).isCharacterDevice(), 'a device node was made')
      assert.equal(lstatSync(join(dir, 'exec')).mode & 0o777, 0o755, 'plain modes still work')
    }

    it('a process under the confinement cannot make a host file setuid/setgid or a device node (as the user running the tests)', function () {
      if (!which('bwrap') || !which('perl')) {
        console.log('        (skipped: bwrap or perl is not installed)')
        this.skip()
      }
      check(attackAs('self'))
    })

    it('a process under the confinement cannot make a host file setuid/setgid or a device node (as an unprivileged host user)', function () {
      if (process.getuid?.() !== 0) {
        console.log('        (skipped: switching to the unprivileged user "nobody" needs root)')
        this.skip()
      }
      if (!which('bwrap') || !which('perl') || !which('setpriv')) {
        console.log('        (skipped: bwrap, perl or setpriv is not installed)')
        this.skip()
      }
      const probe = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'bwrap', '--dev-bind', '/', '/', '--', 'true'], {encoding: 'utf8'})
      if (probe.status !== 0) {
        console.log(`        (skipped: bubblewrap cannot run unprivileged here: ${probe.stderr.trim()})`)
        this.skip()
      }
      check(attackAs('nobody'))
    })
  })

  describe('guest connections', () => {
    it('a connector with no traffic either way ends in less than 600 s', () => {
      const cmd = connectorCommand('127.0.0.1', 3128, {dir: '/tmp/x', count: 4})
      const m = /'-T' '(\d+)'/.exec(cmd)
      assert.ok(m, cmd)
      assert.ok(Number(m![1]) < 600, cmd)
    })
  })
})
