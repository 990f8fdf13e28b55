// Bad input and failing VMs: each gives a clear, typed error and leaves no QEMU process behind.
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {homedir, tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import {VmError} from '../../runtime/vm/errors.js'
import type {VmSpec} from '../../runtime/vm/driver.js'
import {QemuDriver} from '../../runtime/vm/qemu.js'
import {processesMentioning, shareAccelVerdict, vmSkipReason, vmTestAssets, VmTestAssets} from './support.js'

describe('qemu driver: failures', function () {
  this.timeout(600_000)
  const skip = vmSkipReason()
  let assets: VmTestAssets
  let root: string
  let workspace: string
  let driver: QemuDriver

  const spec = (over: Partial<VmSpec> = {}): VmSpec => ({
    name: 'vm-fail',
    rootfs: assets.rootfs,
    rootfsId: assets.rootfs,
    kitLayers: [],
    workspace,
    env: {},
    plan: {install: [], files: [], startup: []},
    command: ['true'],
    ...over,
  })

  const rejects = async (p: Promise<unknown>, code: string, message: RegExp) => {
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof VmError, `a VmError, got ${e}`)
      assert.equal(e.code, code, e.message)
      assert.match(e.message, message)
      return true
    })
  }

  before(async function () {
    if (skip) {
      console.log(`    (skipped: ${skip})`)
      this.skip()
    }
    assets = await vmTestAssets()
    root = mkdtempSync(join(tmpdir(), 'kit-vm-fail-'))
    workspace = join(root, 'project')
    mkdirSync(workspace)
    driver = new QemuDriver({imageCacheDir: assets.imageCacheDir})
  })

  after(() => {
    if (root) rmSync(root, {recursive: true, force: true})
    if (assets) rmSync(assets.kitHome, {recursive: true, force: true})
  })

  it('refuses / and the home directory as the workspace', async () => {
    await rejects(driver.run(spec({workspace: '/'}), {env: assets.env}), 'VM_SPEC', /refusing to share \/ as the workspace/)
    await rejects(driver.run(spec({workspace: homedir()}), {env: assets.env}), 'VM_SPEC', /refusing to share/)
  })

  it('refuses a workspace or kit layer that is not a directory, and a bad workdir', async () => {
    await rejects(driver.run(spec({workspace: join(root, 'missing')}), {env: assets.env}), 'VM_SPEC', /is not a directory/)
    await rejects(driver.run(spec({kitLayers: [join(root, 'nope')]}), {env: assets.env}), 'VM_SPEC', /kit layer .* is not a directory/)
    await rejects(driver.run(spec({workdir: '/work space'}), {env: assets.env}), 'VM_SPEC', /workdir/)
  })

  it('refuses a plan with nothing to run', async () => {
    await rejects(driver.run(spec({command: undefined}), {env: assets.env}), 'VM_SPEC', /no command and no entrypoint/)
  })

  it('reports a kernel QEMU cannot load as a boot failure, with QEMU\'s reason, and leaves no process', async () => {
    const bad = join(root, 'vmlinuz-garbage')
    writeFileSync(bad, 'not a kernel\n'.repeat(1000))
    await rejects(driver.run(spec(), {env: {...assets.env, KIT_KERNEL: bad}}), 'VM_BOOT', /failed to boot: QEMU exited 1: qemu: linux kernel too old/)
    assert.deepEqual(processesMentioning(workspace), [])
  })

  it('kills a VM that does not start the command in time and leaves no process', async () => {
    await rejects(driver.run(spec(), {env: assets.env, bootTimeoutMs: 1500}), 'VM_BOOT', /did not start the command within 1500 ms/)
    assert.deepEqual(processesMentioning(workspace), [])
  })

  it('kills a running VM when the run is cancelled, and leaves no process', async () => {
    const ac = new AbortController()
    let seen = ''
    const stdout = new Writable({
      write(chunk, _enc, cb) {
        seen += String(chunk)
        if (seen.includes('started')) ac.abort()
        cb()
      },
    })
    await rejects(driver.run(spec({command: ['sh', '-c', 'echo started; exec sleep 600']}), {env: assets.env, stdout, signal: ac.signal}), 'VM_TIMEOUT', /cancelled/)
    shareAccelVerdict(assets)
    assert.deepEqual(processesMentioning(workspace), [])
  })

  it('stops at a failing install command with its index and exit code; the command never runs', async () => {
    await rejects(driver.run(spec({
      plan: {install: [{command: 'true'}, {command: 'echo broken >&2; exit 42'}], files: [], startup: []},
      command: ['sh', '-c', 'touch /workspace/ran'],
    }), {env: assets.env}), 'VM_GUEST', /guest install\[1\] failed \(exit 42\)/)
    shareAccelVerdict(assets)
    assert.deepEqual(processesMentioning(workspace), [])
  })
})
