// kit as a package: `npm pack` in a clone writes kit-X.tgz, which installs with `npm install -g`
// into an empty prefix (no dev dependencies, no build step) and runs: --version, init, validate,
// build, with a fresh KIT_HOME; then, still from the installed binary alone (cwd outside the
// repository, an environment that names nothing in it), push to a real registry, pull into a
// second KIT_HOME, inspect, and run the sample agent shipped in the package with a mixin in a real
// VM (the sample image imported with the installed `kit image import`, the kernel from the shared
// VM test cache). npx runs it too; `npm ci --omit=dev` in a clone does not fail.
// The time of the install and of each step is printed (measured, never asserted).
// npm installs from the cache that `npm ci` filled (--offline); only when that cache lacks
// registry metadata does it fall back to --prefer-offline, which asks the npm registry alone.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {appendFile, copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join, sep} from 'node:path'
import {performance} from 'node:perf_hooks'
import {promisify} from 'node:util'
import {gunzipSync} from 'node:zlib'
import {repoRoot} from '../support/paths.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'
import {importSampleImage, SAMPLE_CACHE} from '../support/upstreams.js'
import {shareAccelVerdict, vmSkipReason, vmTestAssets, type VmTestAssets} from '../vm/support.js'

const run = promisify(execFile)
const npm = (args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) =>
  run('npm', [...args, '--no-audit', '--no-fund'], {cwd, env: {...env, npm_config_update_notifier: 'false'}, maxBuffer: 64 << 20})

/** npm from the cache only; with registry metadata missing from the cache, from the npm registry for that alone. */
async function npmCached(args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<{stdout: string; stderr: string; offline: boolean}> {
  try {
    return {...(await npm([...args, '--offline'], cwd, env)), offline: true}
  } catch (err) {
    if (!/ENOTCACHED/.test(String((err as {stderr?: string}).stderr ?? err))) throw err
    return {...(await npm([...args, '--prefer-offline'], cwd, env)), offline: false}
  }
}

/** The newest sample agent tarball scripts/build-sample-image.sh left in SAMPLE_CACHE, if any. */
async function cachedSampleTarball(): Promise<string | undefined> {
  const names = await readdir(SAMPLE_CACHE).catch(() => [] as string[])
  let best: {path: string; mtime: number} | undefined
  for (const n of names.filter((f) => /^kit-shell-agent-.*\.tar$/.test(f))) {
    const st = await stat(join(SAMPLE_CACHE, n))
    if (st.size > 0 && (!best || st.mtimeMs > best.mtime)) best = {path: join(SAMPLE_CACHE, n), mtime: st.mtimeMs}
  }
  return best?.path
}

describe('kit as an npm package', function () {
  this.timeout(900_000)
  let dir: string
  let clone: string
  let tarball: string
  // Set by the install test, used by the ones after it.
  let prefix: string | undefined
  let installed: string
  let kitPath: string
  let userEnv: NodeJS.ProcessEnv
  let builtRef: string | undefined
  const timings: Array<[string, number]> = []
  async function timed<T>(step: string, f: () => Promise<T>): Promise<T> {
    const t0 = performance.now()
    try {
      return await f()
    } finally {
      timings.push([step, performance.now() - t0])
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kit-package-'))
    // A clone: the files git knows (tracked or new, not ignored), with this checkout's node_modules.
    clone = join(dir, 'clone')
    const {stdout} = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {cwd: repoRoot, maxBuffer: 16 << 20})
    for (const rel of stdout.split('\0').filter(Boolean)) {
      await mkdir(dirname(join(clone, rel)), {recursive: true})
      await copyFile(join(repoRoot, rel), join(clone, rel)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e // deleted but not yet committed
      })
    }
    await symlink(join(repoRoot, 'node_modules'), join(clone, 'node_modules'))
    const packed = await npm(['pack', '--pack-destination', dir], clone)
    const name = (await readdir(dir)).find((f) => /^kit-.*\.tgz$/.test(f))
    assert.ok(name, packed.stdout + packed.stderr)
    tarball = join(dir, name)
  })
  after(async () => {
    if (timings.length > 0) {
      console.log('      timings (measured, not asserted):')
      for (const [step, ms] of timings) console.log(`        ${step.padEnd(44)} ${(ms / 1000).toFixed(2)} s`)
    }
    await rm(dir, {recursive: true, force: true})
  })

  it('packs the bundled CLI, the guest files, schemas, sample kits, the command reference and the lockfile; no tests', async () => {
    const {stdout} = await run('tar', ['tzf', tarball], {maxBuffer: 16 << 20})
    const files = new Set(stdout.split('\n').map((f) => f.replace(/^package\//, '')))
    for (const f of ['bin/kit', 'dist/cli/main.js', 'dist/cli/commands/push.js', 'dist/cli/hooks/not-found.js', 'runtime/guest/init.sh', 'schemas/kit-v2.schema.json',
      'sample-kits/shell-agent/spec.yaml', 'docs/commands.md', 'oclif.manifest.json', 'npm-shrinkwrap.json', 'action.yml', 'README.md']) {
      assert.ok(files.has(f), `${f} is not in the package`)
    }
    assert.ok([...files].some((f) => f.startsWith('dist/chunks/')))
    assert.ok(![...files].some((f) => f.startsWith('dist/test/') || f.endsWith('.map')), 'tests or source maps in the package')
    const pjson = JSON.parse((await run('tar', ['xzOf', tarball, 'package/package.json'])).stdout)
    assert.equal(pjson.private, undefined)
    // The entry point is one bundle: @oclif/core is inside it, not imported from node_modules.
    const main = (await run('tar', ['xzOf', tarball, 'package/dist/cli/main.js'])).stdout
    assert.doesNotMatch(main, /from ["']@oclif\/core["']/)
    // The command reference lists every command (generated at pack time, never committed).
    const reference = (await run('tar', ['xzOf', tarball, 'package/docs/commands.md'])).stdout
    for (const id of ['push', 'pull', 'key generate', 'policy allow', 'autocomplete', 'help']) assert.match(reference, new RegExp(`^## \`kit ${id}\``, 'm'))
  })

  it('installs with npm install -g into an empty prefix and runs: --version, init, validate, build', async () => {
    const target = join(dir, 'prefix')
    await timed('npm install -g (the tarball)', () => npmCached(['install', '-g', '--prefix', target, tarball], dir))
    prefix = target
    kitPath = join(prefix, 'bin', 'kit')
    installed = join(prefix, 'lib', 'node_modules', 'kit')
    // The user's environment: the prefix's bin first, nothing from the repository (no node_modules/.bin
    // of a checkout on PATH, no npm_* variables naming it, no NODE_PATH).
    const path = [join(prefix, 'bin'), ...(process.env.PATH ?? '').split(':').filter((p) => p && !p.startsWith(repoRoot + sep) && p !== repoRoot && !p.includes(`${sep}node_modules${sep}`))]
    userEnv = {PATH: path.join(':'), HOME: join(dir, 'home'), KIT_HOME: join(dir, 'kit-home'), LANG: 'C.UTF-8'}
    const env = userEnv
    const kit = kitPath
    // No dev dependency came along.
    for (const dev of ['typescript', 'mocha', 'esbuild', 'oclif']) {
      await assert.rejects(readFile(join(installed, 'node_modules', dev, 'package.json')), `${dev} was installed`)
    }
    const version = await timed('kit --version', () => run(kit, ['--version'], {env, cwd: dir}))
    assert.match(version.stdout, /^kit\/\d+\.\d+\.\d+ /)
    const work = join(dir, 'work')
    await mkdir(work)
    await timed('kit init', () => run(kit, ['init', 'hello', '--kind', 'mixin'], {env, cwd: work}))
    const spec = await readFile(join(work, 'hello', 'spec.yaml'), 'utf8')
    assert.equal(spec.split('\n')[0], `# yaml-language-server: $schema=${join(installed, 'schemas', 'kit-v2.schema.json')}`)
    const valid = await timed('kit validate', () => run(kit, ['validate', 'hello'], {env, cwd: work}))
    assert.match(valid.stdout, /valid/)
    const built = JSON.parse((await timed('kit build', () => run(kit, ['build', 'hello', '--json'], {env, cwd: work}))).stdout)
    assert.match(built.digest, /^sha256:[0-9a-f]{64}$/)
    const ls = JSON.parse((await run(kit, ['ls', '--json'], {env, cwd: dir})).stdout)
    assert.equal(ls.store[0].reference, built.reference)
    builtRef = built.reference
    // The bundled hook and the plugins load from the installed package.
    const typo = await run(kit, ['buidl'], {env, cwd: dir}).then(() => undefined, (e: {code: number; stderr: string}) => e)
    assert.equal(typo?.code, 2)
    assert.match(typo!.stderr, /did you mean "build"\?/)
    assert.match((await run(kit, ['help', 'push'], {env, cwd: dir})).stdout, /USAGE/)
  })

  it('the installed package holds no path of the repository it was packed from', async () => {
    assert.ok(prefix, 'the install test did not run')
    for (const v of Object.values(userEnv)) assert.ok(!v?.includes(repoRoot), `the user environment names the repository: ${v}`)
    // grep exits 1 when no file matches.
    const found = await run('grep', ['-rlF', repoRoot, installed]).then((r) => r.stdout, (e: {code: number; stdout: string}) => (e.code === 1 ? '' : Promise.reject(e)))
    assert.equal(found, '', `installed files name ${repoRoot}`)
  })

  it('from the installed binary: push to a local registry, pull into a fresh KIT_HOME, inspect', async () => {
    assert.ok(prefix && builtRef, 'the install test did not run')
    let registry: TestRegistry | undefined
    try {
      registry = await startRegistry()
      const dest = `${registry.host}/team/hello`
      const pushed = JSON.parse((await timed('kit push (to a local registry)', () => run(kitPath, ['push', builtRef!, dest, '--json'], {env: userEnv, cwd: dir}))).stdout)
      assert.match(pushed.digest, /^sha256:[0-9a-f]{64}$/)
      assert.ok(pushed.tags.length > 0)
      const ref = `${dest}:${pushed.tags[0]}`
      const other = {...userEnv, KIT_HOME: join(dir, 'kit-home-pull')}
      const pulled = JSON.parse((await timed('kit pull (into a fresh KIT_HOME)', () => run(kitPath, ['pull', ref, '--json'], {env: other, cwd: dir}))).stdout)
      assert.equal(pulled.digest, pushed.digest)
      const inspected = JSON.parse((await timed('kit inspect (the pulled kit)', () => run(kitPath, ['inspect', ref, '--json'], {env: other, cwd: dir}))).stdout)
      assert.equal(inspected.source, 'store')
      assert.equal(inspected.digest, pushed.digest)
      assert.equal(inspected.spec.name, 'hello')
      assert.ok(Array.isArray(inspected.files), 'a pulled kit lists its files')
    } finally {
      await registry?.stop()
    }
  })

  it('from the installed binary: kit image import the sample image, kit run the shipped sample agent with a mixin in a VM', async function () {
    assert.ok(prefix, 'the install test did not run')
    const skip = vmSkipReason()
    if (skip) {
      console.log(`      (skipped: ${skip})`)
      this.skip()
    }
    // The kernel from the shared VM test cache (other VM tests fill it; built here when missing).
    let assets: VmTestAssets | undefined
    try {
      assets = await vmTestAssets()
      // The sample image tarball from the per-machine cache; built the way the other tests do when missing.
      let image = await cachedSampleTarball()
      if (!image) {
        importSampleImage({...process.env, KIT_HOME: join(dir, 'kit-home-image-build')})
        image = await cachedSampleTarball()
      }
      assert.ok(image, `no sample image tarball in ${SAMPLE_CACHE}`)
      const env: NodeJS.ProcessEnv = {
        ...userEnv,
        KIT_HOME: join(dir, 'kit-home-run'),
        KIT_KERNEL: assets.env.KIT_KERNEL,
        KIT_KERNEL_MODULES: assets.env.KIT_KERNEL_MODULES,
        ...(assets.env.KIT_VM_ACCEL ? {KIT_VM_ACCEL: assets.env.KIT_VM_ACCEL} : {}),
        KIT_SECRET_STORE: 'file',
        DBUS_SESSION_BUS_ADDRESS: '',
      }
      for (const [k, v] of Object.entries(env)) assert.ok(!v?.includes(repoRoot), `${k} names the repository`)
      await timed('kit image import (the sample image)', () => run(kitPath, ['image', 'import', image!, '--tag', 'localhost/kit-shell-agent:bookworm', '--json'], {env, cwd: dir, maxBuffer: 16 << 20}))

      // The guest files must come from the installed package: mark its copy, find the mark in the initramfs.
      const mark = `kit-package-test-${randomBytes(6).toString('hex')}`
      await appendFile(join(installed, 'runtime', 'guest', 'stage2.sh'), `\n# ${mark}\n`)
      const samples = join(installed, 'sample-kits')
      const ws = join(dir, 'workspace')
      await mkdir(ws)
      const probe = 'echo hello-from-package; echo "mixin=$(test -x "$HOME/.local/bin/lint-all" && echo found || echo missing)"'
      const r = await timed('kit run (sample agent + mixin, QEMU VM)', () => run(kitPath, ['run', join(samples, 'shell-agent'), '--kit', join(samples, 'shellcheck'), '--workspace', ws, '--rm', '--', 'sh', '-c', probe], {env, cwd: dir, timeout: 600_000, maxBuffer: 16 << 20}))
      assert.match(r.stdout, /^hello-from-package$/m, r.stderr)
      assert.match(r.stdout, /^mixin=found$/m, r.stderr)
      const cache = join(env.KIT_HOME!, 'cache', 'initramfs')
      const archives = (await readdir(cache)).filter((f) => f.endsWith('.cpio.gz'))
      assert.ok(archives.length > 0, 'no initramfs was built in the fresh KIT_HOME')
      let marked = false
      for (const a of archives) if (gunzipSync(await readFile(join(cache, a))).includes(mark)) marked = true
      assert.ok(marked, "the VM's initramfs does not hold the installed package's runtime/guest/stage2.sh")
      const accel = join(env.KIT_HOME!, 'cache', 'kvm-verdict')
      if (assets && (await stat(accel).catch(() => undefined))) shareAccelVerdict({...assets, kitHome: env.KIT_HOME!})
    } finally {
      if (assets?.kitHome) await rm(assets.kitHome, {recursive: true, force: true})
    }
  })

  it('runs with npx from the tarball', async () => {
    const {stdout} = await npmCached(['exec', '--yes', '--package', tarball, '--', 'kit', '--version'], dir)
    assert.match(stdout, /^kit\/\d+\.\d+\.\d+ /m)
  })

  it('npm ci --omit=dev in a clone succeeds (prepare builds only where tsc is installed)', async () => {
    const bare = join(dir, 'bare')
    await mkdir(join(bare, 'scripts'), {recursive: true})
    for (const f of ['package.json', 'package-lock.json', 'scripts/prepare.mjs']) await copyFile(join(clone, f), join(bare, f))
    const r = await npmCached(['ci', '--omit=dev'], bare)
    assert.match(r.stderr + r.stdout, /typescript is not installed/)
    await assert.rejects(readFile(join(bare, 'node_modules', 'typescript', 'package.json')))
  })
})
