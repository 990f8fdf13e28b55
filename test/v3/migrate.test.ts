// kit migrate --to 3: the sample kits (v2) become v3 kits that validate, with the same network
// rules, credentials, hooks, files and agent context; arg references survive (an env value that is
// one whole arg becomes the arg's env export); a declaration-only result builds natively; the
// real catalog kits that load as v1/v2 migrate to valid v3 kits.
import assert from 'node:assert/strict'
import {cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parse} from 'yaml'
import {loadKit} from '../../kit-compiler/load.js'
import {buildV3} from '../../kit-compiler/v3/build.js'
import {migrateToV3} from '../../kit-compiler/v3/migrate.js'
import {validateV3Dir} from '../../kit-compiler/v3/validate.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {runKit} from '../support/cli.js'
import {corpusDir, sampleKitsDir} from '../support/paths.js'

const cap = (d: any, type: string) => d.capabilities.find((c: any) => c.type === `com.docker.sandbox/${type}`)

describe('v3 migrate (kit migrate --to 3)', function () {
  this.timeout(120_000)
  let dir: string
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'kit-v3-migrate-'))))
  after(async () => rm(dir, {recursive: true, force: true}))

  for (const name of ['github', 'node', 'shell-agent', 'shellcheck']) {
    it(`${name}: the v3 kit validates and declares what the v2 kit did`, async () => {
      const kitDir = join(dir, name)
      await cp(join(sampleKitsDir, name), kitDir, {recursive: true})
      const v2 = (await loadKit(kitDir, {checkFileContents: false})).spec
      const r = await migrateToV3(kitDir)
      assert.equal(r.written, true)
      assert.ok(existsSync(join(kitDir, 'spec.yaml.bak')) && !existsSync(join(kitDir, 'spec.yaml')))
      const v = await validateV3Dir(kitDir)
      assert.ok(v?.valid, JSON.stringify(v?.diagnostics))
      const d = v!.kit!.descriptor as any
      assert.equal(d.kind, v2.kind === 'sandbox' ? 'workload' : 'mixin')
      assert.deepEqual(d.provides, [`${v2.name}@${v2.version}`])
      if (v2.permissions?.network?.allow) assert.deepEqual(cap(d, 'network-policy@1').config.runtime.allow, v2.permissions.network.allow)
      for (const c of v2.credentials ?? []) {
        const m = d.capabilities.find((x: any) => x.type === 'com.docker.sandbox/credential@1' && x.config.service === c.service)
        assert.ok(m, `credential ${c.service}`)
        assert.equal(m.config.apiKey.name, c.apiKey!.name)
      }
      if (v2.setup?.install?.length) assert.equal(cap(d, 'lifecycle@1').config.install.length, v2.setup.install.length)
      if (v2.setup?.files?.length) assert.deepEqual(cap(d, 'lifecycle@1').config.files.map((f: any) => f.path), v2.setup.files.map((f) => f.path))
      if (v2.agentInstructions?.content) assert.equal(cap(d, 'agent-context@1').config.content, v2.agentInstructions.content)
    })
  }

  it('github: bearer and basic injection map onto header+format and scheme basic', async () => {
    const d = parse(await readFile(join(dir, 'github', 'github.yaml'), 'utf8'))
    assert.deepEqual(cap(d, 'credential@1').config.apiKey.inject, [
      {domain: 'api.github.com', header: 'Authorization', format: 'Bearer %s'},
      {domain: 'github.com', scheme: 'basic', username: 'x-access-token'},
    ])
    assert.match(await readFile(join(dir, 'github', 'github.dockerfile'), 'utf8'), /^COPY --chown=1000:1000 files\/home\/ \/home\/agent\/$/m)
  })

  it('node: an arg reference survives; an env value that is one whole arg becomes the arg\'s env export', async () => {
    const d = parse(await readFile(join(dir, 'node', 'node.yaml'), 'utf8'))
    assert.equal(d.args.registry.env, 'NPM_CONFIG_REGISTRY')
    assert.equal(d.args.registry.default, 'https://registry.npmjs.org/')
    const recipe = await readFile(join(dir, 'node', 'node.dockerfile'), 'utf8')
    assert.ok(!recipe.includes('NPM_CONFIG_REGISTRY'))
    assert.match(recipe, /^ENV NPM_CONFIG_PREFIX="\/home\/agent\/.npm-global"$/m)
  })

  it('shell-agent: the image, entrypoint and command go into the recipe', async () => {
    const recipe = await readFile(join(dir, 'shell-agent', 'shell-agent.dockerfile'), 'utf8')
    assert.match(recipe, /^FROM localhost\/kit-shell-agent:bookworm$/m)
    assert.match(recipe, /^ENTRYPOINT \["bash","-l"\]$/m)
  })

  it('--dry-run writes nothing; a second migration is refused', async () => {
    const kitDir = join(dir, 'dry')
    await cp(join(sampleKitsDir, 'github'), kitDir, {recursive: true})
    const r = await runKit(['migrate', kitDir, '--to', '3', '--dry-run', '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.json.spec, /schemaVersion: "3"/)
    assert.deepEqual((await readdir(kitDir)).sort(), ['README.md', 'files', 'spec.yaml'])
    assert.equal((await runKit(['migrate', kitDir, '--to', '3'])).code, 0)
    const again = await runKit(['migrate', kitDir, '--to', '3'])
    assert.notEqual(again.code, 0)
  })

  it('a declaration-only v2 mixin migrates to a kit that kit builds natively', async () => {
    const kitDir = join(dir, 'api')
    await mkdir(kitDir)
    await writeFile(join(kitDir, 'spec.yaml'), [
      'schemaVersion: "2"', 'kind: mixin', 'name: api', 'version: "2.0.0"',
      'permissions:', '  network:', '    allow: [api.example.com]', '    deny: [evil.example.com]',
      'credentials:', '  - service: example', '    apiKey:', '      name: EXAMPLE_TOKEN', '      proxyManaged: true',
      '      inject:', '        - domain: api.example.com', '          header: X-Api-Key', '          format: "%s"', '',
    ].join('\n'))
    const r = await migrateToV3(kitDir)
    assert.equal(r.dockerfilePath, undefined)
    const store = await OciLayoutStore.open(join(dir, 'store'))
    const b = await buildV3(kitDir, {store, tag: 'api:2.0.0'})
    assert.equal(b.builtWith, 'descriptor-only')
    const m = JSON.parse((await store.fetchBytes(b.descriptor)).toString())
    const d = JSON.parse(m.annotations['vnd.docker.sandbox.kit.descriptor'])
    assert.deepEqual(cap(d, 'network-policy@1').config, {runtime: {allow: ['api.example.com'], deny: ['evil.example.com']}})
    assert.equal(cap(d, 'credential@1').optional, true)
  })

  it('the real catalog kits that load migrate to valid v3 kits', async function () {
    const kits = join(corpusDir, 'kits')
    if (!existsSync(kits)) {
      console.log(`      skipped: no corpus at ${kits}`)
      this.skip()
    }
    const failures: string[] = []
    let migrated = 0
    for (const name of await readdir(kits)) {
      const kitDir = join(dir, `corpus-${name}`)
      await cp(join(kits, name), kitDir, {recursive: true})
      try {
        await loadKit(kitDir, {checkFileContents: false})
      } catch {
        continue // refused by the v1/v2 loader: not this test's concern
      }
      try {
        await migrateToV3(kitDir)
        migrated++
      } catch (e) {
        failures.push(`${name}: ${(e as Error).message}`)
      }
    }
    assert.deepEqual(failures, [])
    assert.ok(migrated >= 30, `${migrated} migrated`)
  })
})
