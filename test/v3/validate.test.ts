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

describe('v3 validate: authoring forms (§3)', () => {
  let dir: string
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'kit-v3-forms-'))))
  after(async () => rm(dir, {recursive: true, force: true}))
  const write = async (sub: string, files: Record<string, string>) => {
    const { mkdir } = await import('node:fs/promises')
    await mkdir(join(dir, sub), {recursive: true})
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, sub, name), text)
    return join(dir, sub)
  }
  it('spec.yaml holding a v3 descriptor (no syntax line) is found', async () => {
    const k = await write('spec', {'spec.yaml': 'schemaVersion: "3"\nkind: mixin\n'})
    const r = (await validateV3Dir(k))!
    assert.equal(r.valid, true)
    assert.equal(r.kit!.source.stem, 'spec')
  })
  it('inline build: is the recipe', async () => {
    const k = await write('inline', {'inline.yaml': '# syntax=docker/sandbox-kit:3\nschemaVersion: "3"\nkind: workload\nbuild: |\n  FROM scratch\n'})
    assert.equal((await validateV3Dir(k))!.kit!.recipe!.form, 'inline')
  })
  it('a # kit: comment Dockerfile is descriptor and recipe at once', async () => {
    const k = await write('comment', {Dockerfile: '# syntax=docker/sandbox-kit:3\n# kit:\n#   schemaVersion: "3"\n#   kind: mixin\n#   provides: ["tool@1.0.0"]\n# syntax=docker/dockerfile:1\nFROM scratch\n'})
    const r = (await validateV3Dir(k))!
    assert.equal(r.valid, true, JSON.stringify(r.diagnostics))
    assert.equal(r.kit!.recipe!.form, 'comment')
    assert.deepEqual(r.kit!.descriptor.provides, ['tool@1.0.0'])
  })
  it('several descriptors: the one named after the directory, else a clear error', async () => {
    const k = await write('pick', {'pick.yaml': 'schemaVersion: "3"\nkind: mixin\n', 'other.yaml': 'schemaVersion: "3"\nkind: mixin\n'})
    assert.equal((await validateV3Dir(k))!.kit!.source.stem, 'pick')
    const k2 = await write('two', {'a.yaml': 'schemaVersion: "3"\nkind: mixin\n', 'b.yaml': 'schemaVersion: "3"\nkind: mixin\n'})
    assert.match((await validateV3Dir(k2))!.diagnostics[0]!.message, /several v3 descriptors \(a\.yaml, b\.yaml\)/)
  })
  it('schemaVersion: 3 unquoted is read (as Go\'s decoder does) with a warning', async () => {
    const k = await write('unquoted', {'unquoted.yaml': '# syntax=docker/sandbox-kit:3\nschemaVersion: 3\nkind: mixin\n'})
    const r = (await validateV3Dir(k))!
    assert.equal(r.valid, true)
    assert.ok(r.diagnostics.some((d) => d.code === 'schema-version' && d.severity === 'warning' && d.line === 2))
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
