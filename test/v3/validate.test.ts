// Schema v3 validation: the spec's own examples validate; every invalid case of
// test/fixtures/v3/invalid is refused with the diagnostic its last line names, at that line:col;
// the comment-descriptor form maps positions onto the Dockerfile; the CLI prints file:line:col.
import assert from 'node:assert/strict'
import {mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {formatDiagnostic} from '../../kit-compiler/diagnostics.js'
import {validateV3Dir} from '../../kit-compiler/v3/validate.js'
import {runKit} from '../support/cli.js'
import {repoRoot} from '../support/paths.js'

const fixtures = join(repoRoot, 'test', 'fixtures', 'v3')

describe('v3 validate: the spec examples', () => {
  for (const name of ['gh', 'shell', 'gemini-mixin', 'claude-acp-set', 'shared-cache']) {
    it(`${name} validates`, async () => {
      const r = await validateV3Dir(join(fixtures, 'examples', name))
      assert.ok(r, 'found as a v3 kit')
      assert.deepEqual(r.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic), [])
      assert.equal(r.valid, true)
    })
  }

  it('finds the companion recipe, and none for a declaration-only mixin', async () => {
    assert.equal((await validateV3Dir(join(fixtures, 'examples', 'gemini-mixin')))!.kit!.recipe!.form, 'companion')
    assert.equal((await validateV3Dir(join(fixtures, 'examples', 'gh')))!.kit!.recipe, undefined)
  })

  it('a directory without a v3 descriptor is not v3 (v1/v2 loader takes it)', async () => {
    assert.equal(await validateV3Dir(join(repoRoot, 'sample-kits', 'github')), undefined)
  })
})

describe('v3 validate: each rule refuses its invalid fixture at file:line:col', () => {
  const dir = join(fixtures, 'invalid')
  let names: string[] = []
  before(async () => {
    names = (await readdir(dir, {withFileTypes: true})).filter((e) => e.isDirectory()).map((e) => e.name)
  })
  it('has a fixture per rule', () => assert.ok(names.length >= 70, `${names.length} fixtures`))
  it('every fixture is refused where its expectation says', async () => {
    const failures: string[] = []
    for (const name of names) {
      const files = await readdir(join(dir, name))
      const main = files.find((f) => f === `${name}.yaml`) ?? 'Dockerfile'
      const text = await readFile(join(dir, name, main), 'utf8')
      const m = /# expect: (\S+) at (\d+):(\d+)/.exec(text)
      assert.ok(m, `${name}: no expectation line`)
      const [, code, line, column] = m
      const r = await validateV3Dir(join(dir, name))
      if (!r) {
        failures.push(`${name}: not recognised as v3`)
        continue
      }
      const errors = r.diagnostics.filter((d) => d.severity === 'error')
      const hit = errors.find((d) => d.code === code && d.line === Number(line) && d.column === Number(column) && d.file.endsWith(`${name}/${main}`))
      if (r.valid || !hit) failures.push(`${name}: want ${code} at ${line}:${column}, got ${errors.map((d) => `${d.code}@${d.line}:${d.column} ${d.message}`).join(' | ') || 'valid'}`)
    }
    assert.deepEqual(failures, [])
  })
})

describe('v3 validate: size budget (§9.4)', () => {
  let dir: string
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'kit-v3-size-'))))
  after(async () => rm(dir, {recursive: true, force: true}))
  it('warns above 64 KiB and refuses above 512 KiB', async () => {
    const body = (n: number) => `# syntax=docker/sandbox-kit:3\nschemaVersion: "3"\nkind: mixin\ndescription: "${'x'.repeat(n)}"\n`
    await writeFile(join(dir, 'big.yaml'), body(100 * 1024))
    let r = (await validateV3Dir(dir))!
    assert.equal(r.valid, true)
    assert.ok(r.diagnostics.some((d) => d.code === 'descriptor-large' && d.severity === 'warning'))
    await writeFile(join(dir, 'big.yaml'), body(600 * 1024))
    r = (await validateV3Dir(dir))!
    assert.equal(r.valid, false)
    assert.ok(r.diagnostics.some((d) => d.code === 'descriptor-too-large' && d.line === 2))
  })
})

describe('v3 validate: kit validate (CLI)', () => {
  it('accepts the gh example and reports schema v3', async () => {
    const r = await runKit(['validate', join(fixtures, 'examples', 'gh'), '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.json.valid, true)
    assert.equal(r.json.schemaVersion, '3')
    assert.equal(r.json.kind, 'mixin')
  })
  it('prints file:line:col for an invalid kit and exits 1', async () => {
    const r = await runKit(['validate', join(fixtures, 'invalid', 'undeclared-arg')])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /undeclared-arg\.yaml:4:\d+: references \$\{\{ kit\.args\.version \}\}/)
  })
})
