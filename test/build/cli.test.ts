import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {kitBin} from '../support/paths.js'
import {cleanupKits, makeKit, mixin} from '../support/kit-dir.js'
import {snapshot} from './helpers.js'

const execFileP = promisify(execFile)

interface Run {
  code: number
  stdout: string
  stderr: string
}

async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  try {
    const {stdout, stderr} = await execFileP(cmd, args, {env: {...process.env, ...env}, maxBuffer: 16 << 20})
    return {code: 0, stdout, stderr}
  } catch (err) {
    const e = err as {code?: number; stdout?: string; stderr?: string}
    return {code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? ''}
  }
}

const hasSkopeo = existsSync('/usr/bin/skopeo')

describe('kit build / ls / inspect / export / rm (CLI)', () => {
  let home: string
  let out: string
  const kit = (...args: string[]): Promise<Run> => run(kitBin, args, {KIT_HOME: home, SOURCE_DATE_EPOCH: ''})

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'kit-cli-home-'))
    out = await mkdtemp(join(tmpdir(), 'kit-cli-out-'))
  })
  after(async () => {
    cleanupKits()
    await rm(home, {recursive: true, force: true})
    await rm(out, {recursive: true, force: true})
  })

  let digest = ''

  it('kit build --tag --json prints reference, digest and size', async () => {
    const dir = makeKit(mixin('version: 1.2.3\ndescription: CLI test\n', 'my-mixin'), {
      'files/workspace/run.sh': {content: '#!/bin/sh\necho ok\n', mode: 0o755},
      'files/home/.config/x.toml': 'x = 1\n',
    })
    const r = await kit('build', dir, '--tag', 'my-mixin:1.2.3', '--json')
    assert.equal(r.code, 0, r.stderr)
    const body = JSON.parse(r.stdout)
    assert.equal(body.reference, 'my-mixin:1.2.3')
    assert.match(body.digest, /^sha256:[a-f0-9]{64}$/)
    assert.equal(typeof body.size, 'number')
    digest = body.digest
    assert.ok(existsSync(join(home, 'store', 'blobs', 'sha256', digest.slice(7))), 'KIT_HOME moves the store')
  })

  it('kit ls --json lists it', async () => {
    const r = await kit('ls', '--json')
    assert.equal(r.code, 0, r.stderr)
    const [item] = JSON.parse(r.stdout).store
    assert.deepEqual(
      {reference: item.reference, kind: item.kind, name: item.name, version: item.version, digest: item.digest},
      {reference: 'my-mixin:1.2.3', kind: 'mixin', name: 'my-mixin', version: '1.2.3', digest},
    )
    assert.ok(item.size > 0)
  })

  it('kit inspect --json shows manifest, annotations, normalised spec and files with modes', async () => {
    const r = await kit('inspect', 'my-mixin:1.2.3', '--json')
    assert.equal(r.code, 0, r.stderr)
    const info = JSON.parse(r.stdout)
    assert.equal(info.digest, digest)
    assert.equal(info.manifest.artifactType, 'application/vnd.docker.sandbox.kit.v2')
    assert.equal(info.annotations['vnd.docker.sandbox.kit.version'], '1.2.3')
    assert.equal(info.spec.description, 'CLI test')
    const run = info.files.find((f: {path: string}) => f.path === 'workspace/run.sh')
    assert.deepEqual(run, {path: 'workspace/run.sh', type: 'file', mode: 0o755, size: 18})
    const human = await kit('inspect', 'my-mixin:1.2.3')
    assert.match(human.stdout, /-0755 +18 {2}workspace\/run\.sh/)
  })

  it('kit export --output DIR writes a layout skopeo reads by tag (inspect --raw, copy)', async function () {
    if (!hasSkopeo) this.skip()
    const dir = join(out, 'layout')
    const r = await kit('export', 'my-mixin:1.2.3', '--output', dir, '--json')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).tag, '1.2.3')
    // `skopeo inspect` without --raw refuses every non-image OCI artifact by design
    // (containers/image: "unsupported image-specific operation on artifact"); --raw reads it.
    const raw = await run('skopeo', ['inspect', '--raw', `oci:${dir}:1.2.3`])
    assert.equal(raw.code, 0, raw.stderr)
    const manifest = JSON.parse(raw.stdout)
    assert.equal(manifest.artifactType, 'application/vnd.docker.sandbox.kit.v2')
    const config = await run('skopeo', ['inspect', '--config', '--raw', `oci:${dir}:1.2.3`])
    assert.match(config.stdout, /name: my-mixin/)
    const copied = join(out, 'copied')
    const cp = await run('skopeo', ['copy', `oci:${dir}:1.2.3`, `dir:${copied}`])
    assert.equal(cp.code, 0, cp.stderr)
    assert.equal(readFileSync(join(copied, 'manifest.json'), 'utf8'), raw.stdout)
    assert.ok(existsSync(join(copied, manifest.layers[0].digest.slice(7))))
  })

  it('kit export --output FILE.tar writes an oci-archive, the same every time', async function () {
    if (!hasSkopeo) this.skip()
    const tar = join(out, 'kit.tar')
    assert.equal((await kit('export', 'my-mixin:1.2.3', '--output', tar)).code, 0)
    const first = readFileSync(tar)
    const raw = await run('skopeo', ['inspect', '--raw', `oci-archive:${tar}:1.2.3`])
    assert.equal(raw.code, 0, raw.stderr)
    assert.equal(JSON.parse(raw.stdout).config.mediaType, 'application/vnd.docker.sandbox.kit.v2.spec+yaml')
    assert.equal((await kit('export', 'my-mixin:1.2.3', '--output', tar)).code, 0)
    assert.ok(readFileSync(tar).equals(first))
    assert.deepEqual(readdirSync(out).filter((n) => n.includes('.tmp-')), [])
  })

  it('refuses to export over a non-empty directory that is not a layout', async () => {
    const dir = makeKit(mixin())
    const r = await kit('export', 'my-mixin:1.2.3', '--output', dir)
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^kit: .* exists and is neither empty nor an OCI image layout\n$/)
  })

  it('a bad kit exits 1 with every error naming the file, and writes nothing to the store', async () => {
    const before = snapshot(join(home, 'store'))
    const dir = makeKit(mixin('', 'bad'), {'files/home/ok.txt': 'ok\n'})
    writeFileSync(join(dir, 'files/home/blob.bin'), Buffer.from([1, 2, 0, 3]))
    writeFileSync(join(dir, 'files/workspace.txt'), 'x\n')
    const r = await kit('build', dir)
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^.*files\/home\/blob\.bin: files\/home\/blob\.bin is a binary file \(NUL byte at offset 2\).*$/m)
    assert.match(r.stderr, /files\/workspace\.txt: warning: files\/workspace\.txt is ignored/)
    assert.match(r.stderr, /\nkit: .*: invalid kit \(1 error\), nothing built\n$/)
    const json = await kit('build', dir, '--json')
    assert.equal(json.code, 1)
    assert.equal(JSON.parse(json.stdout).error.code, 'E_KIT_INVALID')
    assert.deepEqual(snapshot(join(home, 'store')), before)
  })

  it('kit rm untags and collects the blobs', async () => {
    const r = await kit('rm', 'my-mixin:1.2.3', '--json')
    assert.equal(r.code, 0, r.stderr)
    const body = JSON.parse(r.stdout)
    assert.deepEqual(body.removed, ['my-mixin:1.2.3'])
    assert.equal(body.blobsRemoved, 3)
    assert.deepEqual(JSON.parse((await kit('ls', '--json')).stdout).store, [])
    assert.deepEqual(readdirSync(join(home, 'store', 'blobs', 'sha256')), [])
    const again = await kit('rm', 'my-mixin:1.2.3')
    assert.equal(again.code, 1)
    assert.match(again.stderr, /my-mixin:1\.2\.3: no such reference/)
  })
})
