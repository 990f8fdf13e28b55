// One real VM (QEMU; TCG without /dev/kvm) runs a plan and a command that probes the sandbox from
// inside; the checks below read what it printed and what the host saw. One boot for the file. The
// checks every driver shares are in test/support/guest-conformance.ts; the QEMU ones are here.
import assert from 'node:assert/strict'
import {rmSync} from 'node:fs'
import {AddressInfo} from 'node:net'
import {QemuDriver} from '../../runtime/vm/qemu.js'
import {guestConformance, guestFixture, guestProbe, parseSay, type GuestFixture, type GuestRun} from '../support/guest-conformance.js'
import type {VmTestAssets} from './support.js'
import {processesMentioning, shareAccelVerdict, vmSkipReason, vmTestAssets} from './support.js'

// The host's loopback as QEMU's user network would show it (10.0.2.2): nothing may answer there.
const PROBE = guestProbe(String.raw`
curl --noproxy '*' -sS -m 5 -o /dev/null "http://10.0.2.2:$KIT_TEST_HOST_PORT/" 2>/dev/null; say host_rc "$?"
`)

describe('qemu driver: one VM, many checks', function () {
  this.timeout(900_000)
  const skip = vmSkipReason()
  let run: GuestRun
  let fixture: GuestFixture | undefined
  let assets: VmTestAssets | undefined

  before(async function () {
    if (skip) {
      console.log(`    (skipped: ${skip})`)
      this.skip()
    }
    assets = await vmTestAssets()
    fixture = await guestFixture('kit-vm-test-', '127.0.0.1')
    const driver = new QemuDriver({imageCacheDir: assets.imageCacheDir})
    const result = await driver.run({
      name: 'vm-test',
      rootfs: assets.rootfs,
      rootfsId: assets.rootfs,
      ...fixture.spec,
      command: ['bash', '-c', PROBE],
    }, {env: assets.env})
    shareAccelVerdict(assets)
    run = {fixture, result, out: parseSay(result.stdout)}
  })

  after(async () => {
    if (assets) rmSync(assets.kitHome, {recursive: true, force: true})
    fixture?.close()
  })

  guestConformance(() => run, {
    proxyUrl: 'http://10.0.2.100:3128',
    // The workspace share maps what the agent writes to the host user.
    agentFilesHostUid: process.getuid?.(),
    hostProcesses: ['socat'],
  })

  it('leaves no QEMU or connector process behind', async () => {
    assert.deepEqual(processesMentioning(run.fixture.workspace), [])
    const connector = `TCP4:127.0.0.1:${(run.fixture.proxy.address() as AddressInfo).port}`
    for (let i = 0; i < 20 && processesMentioning(connector).length > 0; i++) await new Promise(r => setTimeout(r, 100))
    assert.deepEqual(processesMentioning(connector), [])
  })
})
