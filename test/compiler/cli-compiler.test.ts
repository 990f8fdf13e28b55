// The compiler's commands through the real CLI (bin/kit): exit codes, one-line errors, --json.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {cpSync, existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {corpusDir, kitBin, sampleKitsDir} from '../support/paths.js'
import {cleanupKits, makeKit, mixin} from '../support/kit-dir.js'

function kit(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [kitBin, ...args], {encoding: 'utf8', env: {...process.env, ...env}})
  return {status: r.status, stdout: r.stdout, stderr: r.stderr}
}

describe('cli: validate, init, migrate', function () {
  this.timeout(60_000)
  let work: string
  before(() => (work = mkdtempSync(join(tmpdir(), 'kit-cli-'))))
  after(() => {
    rmSync(work, {recursive: true, force: true})
    cleanupKits()
  })

  it('kit validate: exit 0 for valid kits (all sample kits)', () => {
    const r = kit(['validate', ...['shell-agent', 'node', 'github', 'shellcheck'].map((k) => join(sampleKitsDir, k))])
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /shell-agent: valid \(sandbox shell-agent/)
  })

  it('kit validate: exit 0 for a kit sbx accepts with warnings, 1 for one sbx refuses (the acceptance interface)', () => {
    const accepted = kit(['validate', join(corpusDir, 'kits', 'dynatrace')])
    assert.equal(accepted.status, 0, accepted.stderr)
    assert.match(accepted.stderr, /spec\.yaml:43:5: .*NO_PROXY .*kit run drops it/)
    const refused = kit(['validate', join(corpusDir, 'invalid', 'aws')])
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /spec\.yaml:\d+:1: unknown key "caps"/)
  })

  it('kit validate: exit 1 and file:line:col: message for an invalid kit', () => {
    const dir = makeKit(mixin('colour: blue\n'))
    const r = kit(['validate', dir])
    assert.equal(r.status, 1)
    assert.match(r.stderr, /spec\.yaml:4:1: unknown key "colour"/)
  })

  it('kit validate --json: one object per kit with valid and errors (file, line, column, message)', () => {
    const bad = makeKit(mixin('colour: blue\n'))
    const single = kit(['validate', bad, '--json'])
    assert.equal(single.status, 1)
    const obj = JSON.parse(single.stdout)
    assert.equal(obj.valid, false)
    assert.deepEqual(Object.keys(obj.errors[0]).slice(0, 4), ['file', 'line', 'column', 'message'])
    assert.equal(obj.errors[0].line, 4)
    const many = kit(['validate', join(sampleKitsDir, 'node'), bad, '--json'])
    const arr = JSON.parse(many.stdout)
    assert.deepEqual(arr.map((o: {valid: boolean}) => o.valid), [true, false])
  })

  it('kit init scaffolds a kit that validates, and refuses a non-empty directory', () => {
    const dir = join(work, 'my-mixin')
    const r = kit(['init', dir, '--kind', 'mixin', '--json'])
    assert.equal(r.status, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).name, 'my-mixin')
    assert.equal(kit(['validate', dir]).status, 0)
    assert.ok(existsSync(join(dir, 'files', 'home')))
    const again = kit(['init', dir])
    assert.equal(again.status, 1)
    assert.match(again.stderr, /exists and is not empty/)
    const agent = join(work, 'my-agent')
    assert.equal(kit(['init', agent, '--kind', 'sandbox']).status, 0)
    assert.equal(kit(['validate', agent]).status, 0)
    assert.equal(kit(['init', join(work, 'Bad_Name')]).status, 1)
  })

  it('kit migrate rewrites a v1 kit as v2, keeps a .bak, and the result validates to the same model', () => {
    const dir = join(work, 'claude-v1')
    cpSync(join(corpusDir, 'kits', 'claude-v1'), dir, {recursive: true})
    const before = kit(['validate', dir, '--json'])
    assert.equal(JSON.parse(before.stdout).schemaVersion, '1')
    const r = kit(['migrate', dir, '--json'])
    assert.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.equal(out.written, true)
    assert.ok(out.warnings.some((w: string) => /spec\.yaml\.bak:\d+:\d+: warning: persistence/.test(w)))
    assert.match(readFileSync(join(dir, 'spec.yaml.bak'), 'utf8'), /schemaVersion: "1"/)
    const after = kit(['validate', dir, '--json'])
    assert.equal(JSON.parse(after.stdout).schemaVersion, '2')
    assert.equal(JSON.parse(after.stdout).valid, true)
    const second = kit(['migrate', dir])
    assert.equal(second.status, 1)
    assert.match(second.stderr, /already schema v2/)
  })

  it('an unexpected flag is an error with a non-zero exit', () => {
    assert.notEqual(kit(['validate', '--no-such-flag', '.']).status, 0)
  })
})
