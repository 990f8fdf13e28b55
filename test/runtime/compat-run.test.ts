// A v1 kit published as sbx publishes schema v1 kits (spec.yaml and files/ in one ZIP layer, an
// empty config) on a real registry, run by reference with the sample agent in a real VM: its files
// (exec bit kept), environment and setup step are in the guest, and its NO_PROXY / ALL_PROXY are
// dropped at launch with the warning in kit run's output (issue 14). One VM boot.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {chmod, mkdir, readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {V1_ZIP_MEDIA_TYPE} from '../../kit-compiler/model.js'
import {describe as describeBytes, MediaType, RemoteRepository} from '../../registry-client/index.js'
import {runKit, type KitResult} from '../support/cli.js'
import {sampleKitsDir} from '../support/paths.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'
import {importSampleImage, sampleAgentSkipReason} from '../support/upstreams.js'
import {shareAccelVerdict, vmTestAssets, type VmTestAssets} from '../vm/support.js'

const run = promisify(execFile)

const SPEC = `schemaVersion: "1"
kind: mixin
name: zip-run
description: A v1 ZIP kit run from a registry
environment:
  variables:
    ZIP_RUN_MODE: from-the-zip
    NO_PROXY: "*"
    all_proxy: socks5://127.0.0.1:1
commands:
  install:
    - {command: "echo installed > /home/agent/.zip-run/installed && chown agent /home/agent/.zip-run/installed", user: root}
`

describe('kit run: a v1 ZIP kit from a registry, in a VM', function () {
  this.timeout(900_000)
  let assets: VmTestAssets
  let registry: TestRegistry
  let result: KitResult
  const out: Record<string, string> = {}

  before(async function () {
    const skip = sampleAgentSkipReason()
    if (skip) {
      console.log(`      (skipped: ${skip})`)
      this.skip()
    }
    assets = await vmTestAssets()
    const env = {...assets.env, DBUS_SESSION_BUS_ADDRESS: ''}
    importSampleImage(env)
    registry = await startRegistry()
    const src = join(assets.kitHome, 'zip-run')
    await mkdir(join(src, 'files', 'home', '.zip-run'), {recursive: true})
    await mkdir(join(src, 'files', 'workspace'), {recursive: true})
    await writeFile(join(src, 'spec.yaml'), SPEC)
    await writeFile(join(src, 'files', 'home', '.zip-run', 'hello.sh'), '#!/bin/sh\necho hello-from-the-zip\n')
    await chmod(join(src, 'files', 'home', '.zip-run', 'hello.sh'), 0o755)
    await writeFile(join(src, 'files', 'workspace', 'ZIP-NOTES.md'), 'zip notes\n')
    await run('zip', ['-q', '-r', '-X', join(assets.kitHome, 'zip-run.zip'), 'spec.yaml', 'files'], {cwd: src})
    const zip = await readFile(join(assets.kitHome, 'zip-run.zip'))
    const empty = Buffer.from('{}')
    const config = describeBytes(MediaType.OciEmpty, empty)
    const layer = describeBytes(V1_ZIP_MEDIA_TYPE, zip)
    const repo = RemoteRepository.open(`${registry.host}/sbx/zip-run-kit`)
    await repo.push(config, empty)
    await repo.push(layer, zip)
    const manifest = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer]}))
    await repo.pushReference(describeBytes(MediaType.OciManifest, manifest), manifest, '1.0.0')

    const ws = join(assets.kitHome, 'ws')
    await mkdir(ws)
    const probe = [
      'echo "hello=$(/home/agent/.zip-run/hello.sh)"',
      'echo "mode=$(stat -c %a /home/agent/.zip-run/hello.sh)"',
      'echo "installed=$(cat /home/agent/.zip-run/installed)"',
      'echo "notes=$(cat /workspace/ZIP-NOTES.md)"',
      'echo "mode_env=$ZIP_RUN_MODE"',
      'echo "no_proxy=$NO_PROXY"',
      'echo "all_proxy=${all_proxy:-unset}"',
    ].join('; ')
    result = await runKit(['run', join(sampleKitsDir, 'shell-agent'), '--kit', `${registry.host}/sbx/zip-run-kit:1.0.0`, '--workspace', ws, '--', 'sh', '-c', probe], {env, timeoutMs: 600_000})
    for (const line of result.stdout.split('\n')) {
      const eq = line.indexOf('=')
      if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1)
    }
    shareAccelVerdict(assets)
  })
  after(async () => {
    await registry?.stop()
  })

  it('pulls the ZIP kit by reference and runs with it', () => {
    assert.equal(result.code, 0, result.stderr + result.stdout)
    assert.equal(out.hello, 'hello-from-the-zip')
    assert.equal(out.mode, '755', 'the exec bit survives')
    assert.equal(out.installed, 'installed', 'setup.install ran (user: root, a name)')
    assert.equal(out.notes, 'zip notes')
    assert.equal(out.mode_env, 'from-the-zip')
  })

  it('drops the kit\'s proxy variables at launch and says so in kit run\'s output', () => {
    assert.notEqual(out.no_proxy, '*')
    assert.equal(out.all_proxy, 'unset')
    assert.match(result.stderr, /kit: warning: .*environment variable NO_PROXY is the sandbox's proxy setting: kit run drops it/)
    assert.match(result.stderr, /kit: warning: .*environment variable all_proxy is the sandbox's proxy setting: kit run drops it/)
  })
})
