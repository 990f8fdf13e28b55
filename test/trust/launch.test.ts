// kit.requireSignature at launch: prepareSandbox refuses an unsigned store kit and a kit directory
// before anything is composed or recorded, and accepts a kit signed by a trusted key.
import assert from 'node:assert/strict'
import {existsSync, mkdirSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {buildKit} from '../../kit-compiler/build.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {generateKeyPair, signManifest, writeKeyPair} from '../../registry-client/sign/index.js'
import {createPrivateKey} from 'node:crypto'
import {prepareSandbox} from '../../runtime/sandbox/run.js'
import {sampleKitsDir} from '../support/paths.js'

describe('trust: kit.requireSignature at launch', function () {
  this.timeout(60_000)
  let dir: string
  let env: NodeJS.ProcessEnv
  let store: OciLayoutStore
  let ws: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kit-trust-launch-'))
    env = {...process.env, HOME: dir, KIT_HOME: join(dir, 'home'), KIT_ORG_CONFIG: join(dir, 'org.json')}
    store = await OciLayoutStore.open(join(dir, 'home', 'store'))
    ws = join(dir, 'ws')
    mkdirSync(ws, {recursive: true})
    const pair = generateKeyPair('launch-pass')
    await writeKeyPair(join(dir, 'k'), pair)
    await writeFile(join(dir, 'home', 'config.json'), JSON.stringify({'kit.requireSignature': true, 'kit.trustedSigners': [{key: join(dir, 'k.pub')}]}))
    const agent = await buildKit(join(sampleKitsDir, 'shell-agent'), {store, tag: 'signed-agent:1.0.0'})
    await signManifest(store, agent.descriptor, createPrivateKey({key: pair.privateKeyPem, passphrase: 'launch-pass'}), {name: 'signed-agent'})
    await buildKit(join(sampleKitsDir, 'shellcheck'), {store, tag: 'unsigned-mixin:1.0.0'})
  })

  after(async () => {
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('refuses a kit directory and an unsigned store kit, accepts a signed one', async () => {
    await assert.rejects(prepareSandbox({agent: join(sampleKitsDir, 'shell-agent'), workspace: ws, name: 'a', env}), (e: Error & {code?: string}) => {
      assert.equal(e.code, 'SIGNATURE_REQUIRED')
      assert.match(e.message, /kit directory carries no signature/)
      return true
    })
    await assert.rejects(prepareSandbox({agent: 'signed-agent:1.0.0', kits: ['unsigned-mixin:1.0.0'], workspace: ws, name: 'b', env}), (e: Error & {code?: string}) => {
      assert.equal(e.code, 'SIGNATURE_REQUIRED')
      assert.match(e.message, /^refusing unsigned-mixin:1\.0\.0 \(sha256:[0-9a-f]{64}\): no signature is attached/)
      return true
    })
    assert.equal(existsSync(join(dir, 'home', 'sandboxes', 'b')), false)
    const ok = await prepareSandbox({agent: 'signed-agent:1.0.0', workspace: ws, name: 'c', env})
    assert.equal(ok.def.kits[0]!.source, 'store')
  })
})
