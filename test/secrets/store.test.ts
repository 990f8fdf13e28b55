import assert from 'node:assert/strict'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {FileSecretStore} from '../../runtime/secrets/file-store.js'
import {maskSecret, openSecretBackend, SecretStore} from '../../runtime/secrets/store.js'
import {removeDir, run, tempDir} from '../proxy/fixtures.js'

const KIT = fileURLToPath(new URL('../../../bin/kit', import.meta.url))
const VALUE = 'sk-live-SECRET-VALUE-0123456789abcdef'

function allFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, {withFileTypes: true})) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...allFiles(p))
    else out.push(p)
  }
  return out
}

describe('secrets: the encrypted file store', () => {
  let home: string
  beforeEach(() => {
    home = tempDir('kit-secrets-')
  })
  afterEach(() => removeDir(home))

  it('is used on a host without D-Bus, with a one-line notice', async () => {
    const lines: string[] = []
    const b = await openSecretBackend({env: {KIT_HOME: home}, notice: (l) => lines.push(l)})
    assert.equal(b.kind, 'file')
    assert.ok(lines.length <= 1 && lines.every((l) => !l.includes('\n')))
  })

  it('stores values encrypted at rest, the key in another file, both mode 0600', async () => {
    const store = new SecretStore(new FileSecretStore({KIT_HOME: home}), {KIT_HOME: home})
    await store.set('anthropic', VALUE)
    await store.set('custom-api', 'another-value-42', {hosts: ['API.Example.com'], env: 'CUSTOM_API'})
    assert.equal(await store.get('anthropic'), VALUE)
    const f = new FileSecretStore({KIT_HOME: home})
    assert.notEqual(f.paths.key.split('/').slice(0, -1).join('/'), f.paths.data.split('/').slice(0, -1).join('/'))
    for (const p of [f.paths.data, f.paths.key]) assert.equal(statSync(p).mode & 0o777, 0o600, p)
    for (const file of allFiles(home)) {
      const bytes = readFileSync(file)
      assert.ok(!bytes.includes(VALUE) && !bytes.includes('another-value-42'), `${file} holds a value in clear`)
      assert.ok(!bytes.includes(Buffer.from(VALUE).toString('base64').slice(0, 20)), `${file} holds a value in base64`)
    }
    assert.deepEqual(await store.customBindings(), [{name: 'custom-api', hosts: ['api.example.com'], env: 'CUSTOM_API'}])
    const listed = await store.list()
    assert.deepEqual(
      listed.map((s) => s.name),
      ['anthropic', 'custom-api'],
    )
    assert.ok(listed.every((s) => !s.masked.includes(VALUE.slice(0, 8))))
    assert.equal(await store.remove('anthropic'), true)
    assert.equal(await store.get('anthropic'), undefined)
  })

  it('refuses a damaged file or a wrong key without printing any value', async () => {
    const store = new SecretStore(new FileSecretStore({KIT_HOME: home}), {KIT_HOME: home})
    await store.set('x', VALUE)
    const f = new FileSecretStore({KIT_HOME: home})
    const sealed = JSON.parse(readFileSync(f.paths.data, 'utf8'))
    sealed.tag = Buffer.alloc(16).toString('base64')
    const {writeFileSync} = await import('node:fs')
    writeFileSync(f.paths.data, JSON.stringify(sealed))
    await assert.rejects(store.get('x'), (e: Error) => /cannot decrypt/.test(e.message) && !e.message.includes(VALUE))
  })

  it('refuses bad names and values that cannot go in a header', async () => {
    const store = new SecretStore(new FileSecretStore({KIT_HOME: home}), {KIT_HOME: home})
    await assert.rejects(store.set('Bad_Name', 'v'), /bad secret name/)
    await assert.rejects(store.set('ok', 'a\r\nInjected: x'), (e: Error) => /control character/.test(e.message) && !e.message.includes('Injected'))
    await assert.rejects(store.set('ok', ''), /empty/)
    await assert.rejects(store.set('ok', 'v', {hosts: ['a.*.b']}), /--host/)
  })

  it('masks values for display', () => {
    assert.equal(maskSecret('short'), '******** (5 chars)')
    assert.equal(maskSecret(VALUE), `sk-******** (${VALUE.length} chars)`)
  })
})

describe('secrets: kit secret commands', function () {
  this.timeout(60_000)
  let home: string
  beforeEach(() => {
    home = tempDir('kit-secret-cli-')
  })
  afterEach(() => removeDir(home))
  const env = () => ({PATH: process.env.PATH, KIT_HOME: home, KIT_SECRET_STORE: 'file'})

  it('reads the value from stdin, never shows it, lists masked, removes', async () => {
    const set = await run(process.execPath, [KIT, 'secret', 'set', 'anthropic'], {env: env(), input: VALUE + '\n'})
    assert.equal(set.code, 0, set.stderr)
    assert.equal(set.stderr.trim().split('\n').length, 1, 'one notice line')
    assert.match(set.stderr, /KIT_SECRET_STORE=file/)
    const ls = await run(process.execPath, [KIT, 'secret', 'ls', '--json'], {env: env()})
    assert.equal(ls.code, 0, ls.stderr)
    const j = JSON.parse(ls.stdout) as {store: string; secrets: Array<{name: string; masked: string}>}
    assert.equal(j.store, 'file')
    assert.deepEqual(j.secrets.map((s) => s.name), ['anthropic'])
    const human = await run(process.execPath, [KIT, 'secret', 'ls'], {env: env()})
    for (const out of [set.stdout, set.stderr, ls.stdout, ls.stderr, human.stdout, human.stderr]) assert.ok(!out.includes(VALUE))
    const rm = await run(process.execPath, [KIT, 'secret', 'rm', 'anthropic'], {env: env()})
    assert.equal(rm.code, 0, rm.stderr)
    const again = await run(process.execPath, [KIT, 'secret', 'rm', 'anthropic'], {env: env()})
    assert.equal(again.code, 1)
    assert.match(again.stderr, /^kit: no secret named anthropic/m)
  })

  it('binds a custom secret to hosts and the headers its placeholder goes in (--header)', async () => {
    const set = await run(process.execPath, [KIT, 'secret', 'set', 'my-api', '--host', 'api.example.com', '--header', 'X-Api-Key', '--header', 'Authorization'], {env: env(), input: VALUE + '\n'})
    assert.equal(set.code, 0, set.stderr)
    const store = new SecretStore(new FileSecretStore({KIT_HOME: home}), {KIT_HOME: home})
    assert.deepEqual(await store.customBindings(), [{name: 'my-api', hosts: ['api.example.com'], headers: ['X-Api-Key', 'Authorization']}])
    const bad = await run(process.execPath, [KIT, 'secret', 'set', 'my-api', '--host', 'api.example.com', '--header', 'bad header'], {env: env(), input: VALUE + '\n'})
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /--header "bad header": not a header name/)
  })

  it('has no flag that takes a value', async () => {
    const r = await run(process.execPath, [KIT, 'secret', 'set', 'x', '--value', VALUE], {env: env()})
    assert.notEqual(r.code, 0)
  })

  it('refuses a value with a newline inside, without echoing it', async () => {
    const r = await run(process.execPath, [KIT, 'secret', 'set', 'x'], {env: env(), input: 'line1\nline2-SECRETISH\n'})
    assert.equal(r.code, 1)
    assert.ok(!r.stderr.includes('SECRETISH') && !r.stdout.includes('SECRETISH'))
  })
})
