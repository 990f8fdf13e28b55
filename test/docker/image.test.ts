// Agent images from a local Docker engine (runtime/image/docker.ts): an image the engine has and
// the store does not is saved from the engine (docker save through dockerode), its layers and
// config stored as an OCI image under the same reference, unpacked like any other, and found in
// the store the next time without asking the engine.
import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {connectEngine} from '../../runtime/docker/engine.js'
import {ensureRootfsImage} from '../../runtime/docker/image.js'
import {ensureImage} from '../../runtime/image/resolve.js'
import {testEngine} from '../support/docker.js'
import {vmTestAssets} from '../vm/support.js'

describe('agent images from the local Docker engine', function () {
  this.timeout(600_000)
  let home: string
  let env: NodeJS.ProcessEnv
  const reference = 'localhost/kit-from-docker:1'

  before(async function () {
    const engine = await testEngine()
    if (engine.skip) {
      console.log(`      (skipped: ${engine.skip})`)
      this.skip()
    }
    const assets = await vmTestAssets()
    const docker = await connectEngine(engine.env)
    // A Debian tree (curl, git) in the engine, under a name the store has never seen.
    const {tag} = await ensureRootfsImage(docker, assets.rootfs)
    const [repo, t] = [reference.slice(0, reference.lastIndexOf(':')), reference.slice(reference.lastIndexOf(':') + 1)]
    await docker.getImage(tag).tag({repo, tag: t})
    home = mkdtempSync(join(tmpdir(), 'kit-docker-image-'))
    env = {...engine.env, KIT_HOME: home}
  })

  after(() => {
    if (home) rmSync(home, {recursive: true, force: true})
  })

  it('imports the image from the engine into the store and unpacks it', async () => {
    const store = await OciLayoutStore.open(join(home, 'store'))
    const said: string[] = []
    const {image, rootfs} = await ensureImage(store, reference, {env, progress: (l) => said.push(l)})
    assert.equal(image.source, 'docker')
    assert.match(said.join('\n'), /imported localhost\/kit-from-docker:1 from the local Docker engine/)
    assert.ok(existsSync(join(rootfs.dir, 'usr', 'bin', 'curl')))
    assert.ok(existsSync(join(rootfs.dir, 'usr', 'bin', 'git')))
    assert.match(image.manifest.digest, /^sha256:[0-9a-f]{64}$/)
  })

  it('finds it in the store the next time, without the engine', async () => {
    const store = await OciLayoutStore.open(join(home, 'store'))
    const {image, rootfs} = await ensureImage(store, reference, {env: {...env, DOCKER_HOST: 'unix:///nonexistent.sock'}})
    assert.notEqual(image.source, 'docker')
    assert.equal(rootfs.unpacked, false)
  })
})
