// kit as a package: `npm pack` in a clone writes kit-X.tgz, which installs with `npm install -g`
// into an empty prefix (no dev dependencies, no build step) and runs: --version, init, validate,
// build, with a fresh KIT_HOME; npx runs it too; `npm ci --omit=dev` in a clone does not fail.
// npm installs from the cache that `npm ci` filled (--offline); only when that cache lacks
// registry metadata does it fall back to --prefer-offline, which asks the npm registry alone.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {copyFile, mkdir, mkdtemp, readFile, readdir, rm, symlink} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {promisify} from 'node:util'
import {repoRoot} from '../support/paths.js'

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

describe('kit as an npm package', function () {
  this.timeout(900_000)
  let dir: string
  let clone: string
  let tarball: string

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
    const prefix = join(dir, 'prefix')
    await npmCached(['install', '-g', '--prefix', prefix, tarball], dir)
    const kit = join(prefix, 'bin', 'kit')
    const env = {PATH: `${join(prefix, 'bin')}:${process.env.PATH}`, HOME: join(dir, 'home'), KIT_HOME: join(dir, 'kit-home')}
    const installed = join(prefix, 'lib', 'node_modules', 'kit')
    // No dev dependency came along.
    for (const dev of ['typescript', 'mocha', 'esbuild', 'oclif']) {
      await assert.rejects(readFile(join(installed, 'node_modules', dev, 'package.json')), `${dev} was installed`)
    }
    const version = await run(kit, ['--version'], {env})
    assert.match(version.stdout, /^kit\/\d+\.\d+\.\d+ /)
    const work = join(dir, 'work')
    await mkdir(work)
    await run(kit, ['init', 'hello', '--kind', 'mixin'], {env, cwd: work})
    const spec = await readFile(join(work, 'hello', 'spec.yaml'), 'utf8')
    assert.equal(spec.split('\n')[0], `# yaml-language-server: $schema=${join(installed, 'schemas', 'kit-v2.schema.json')}`)
    const valid = await run(kit, ['validate', 'hello'], {env, cwd: work})
    assert.match(valid.stdout, /valid/)
    const built = JSON.parse((await run(kit, ['build', 'hello', '--json'], {env, cwd: work})).stdout)
    assert.match(built.digest, /^sha256:[0-9a-f]{64}$/)
    const ls = JSON.parse((await run(kit, ['ls', '--json'], {env})).stdout)
    assert.equal(ls.store[0].reference, built.reference)
    // The bundled hook and the plugins load from the installed package.
    const typo = await run(kit, ['buidl'], {env}).then(() => undefined, (e: {code: number; stderr: string}) => e)
    assert.equal(typo?.code, 2)
    assert.match(typo!.stderr, /did you mean "build"\?/)
    assert.match((await run(kit, ['help', 'push'], {env})).stdout, /USAGE/)
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
