import assert from 'node:assert/strict'
import {createHash, randomBytes} from 'node:crypto'
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable, Writable} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import {gunzipSync} from 'node:zlib'
import {KitValidationError} from '../../kit-compiler/diagnostics.js'
import {scanKitFiles} from '../../kit-compiler/files.js'
import {GZIP_OS_BYTE, writeLayer} from '../../kit-compiler/layer.js'
import {BLOCK_SIZE, ParallelGzip} from '../../kit-compiler/parallel-gzip.js'
import {cleanupKits, makeKit, mixin} from '../support/kit-dir.js'
import {readLayer} from './helpers.js'

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex')

describe('kit-compiler: writeLayer', () => {
  let out: string
  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'kit-layer-'))
  })
  after(async () => {
    cleanupKits()
    await rm(out, {recursive: true, force: true})
  })

  it('writes exactly the specified entries: names, types, modes, uid/gid 1000, no owner names, mtime 0', async () => {
    const dir = makeKit(mixin(), {
      'files/home/.config/tool.toml': 'a = 1\n',
      'files/workspace/bin/run.sh': {content: '#!/bin/sh\necho hi\n', mode: 0o775},
      'files/workspace/empty.txt': '',
    })
    const {entries} = await scanKitFiles(dir)
    const layer = await writeLayer(entries, join(out, 'a.tgz'))
    const read = await readLayer(layer.path)
    assert.deepEqual(
      read.map((e) => [e.name, e.type, e.mode.toString(8), e.size]),
      [
        ['home/', 'directory', '755', 0],
        ['home/agent/', 'directory', '755', 0],
        ['home/agent/.config/', 'directory', '755', 0],
        ['home/agent/.config/tool.toml', 'file', '644', 6],
        ['workspace/', 'directory', '755', 0],
        ['workspace/bin/', 'directory', '755', 0],
        ['workspace/bin/run.sh', 'file', '755', 18],
        ['workspace/empty.txt', 'file', '644', 0],
      ],
    )
    for (const e of read) {
      assert.equal(e.uid, 1000)
      assert.equal(e.gid, 1000)
      assert.equal(e.uname, '')
      assert.equal(e.gname, '')
      assert.equal(e.mtime, 0)
    }
    assert.equal(read.find((e) => e.name === 'workspace/bin/run.sh')?.content, '#!/bin/sh\necho hi\n')
  })

  it('reports the gzip digest and the diff_id of the tar; the gzip header has mtime 0 and a fixed OS byte', async () => {
    const dir = makeKit(mixin(), {'files/home/a.txt': 'a\n'})
    const layer = await writeLayer((await scanKitFiles(dir)).entries, join(out, 'b.tgz'))
    const gz = readFileSync(layer.path)
    assert.equal(layer.digest, sha(gz))
    assert.equal(layer.size, gz.length)
    const tarBytes = gunzipSync(gz)
    assert.equal(layer.diffId, sha(tarBytes))
    assert.equal(layer.tarSize, tarBytes.length)
    assert.deepEqual([...gz.subarray(0, 4)], [0x1f, 0x8b, 8, 0])
    assert.equal(gz.readUInt32LE(4), 0, 'gzip mtime')
    assert.equal(gz[9], GZIP_OS_BYTE)
  })

  it('an empty layer is valid (a behaviour-only mixin)', async () => {
    const layer = await writeLayer([], join(out, 'empty.tgz'))
    assert.deepEqual(await readLayer(layer.path), [])
    assert.equal(gunzipSync(readFileSync(layer.path)).length, 1024)
  })

  it('keeps non-ASCII and long names (pax headers) readable', async () => {
    const long = 'd'.repeat(60) + '/' + 'e'.repeat(60) + '/' + 'f'.repeat(120) + '.txt'
    const dir = makeKit(mixin(), {'files/workspace/café ✓.md': 'ok\n', [`files/workspace/${long}`]: 'deep\n'})
    const layer = await writeLayer((await scanKitFiles(dir)).entries, join(out, 'names.tgz'))
    const names = (await readLayer(layer.path)).map((e) => e.name)
    assert.ok(names.includes('workspace/café ✓.md'))
    assert.ok(names.includes(`workspace/${long}`))
  })

  it('streams big files and reads them back identical', async () => {
    const dir = makeKit(mixin(), {'files/workspace/.keep': '\n'})
    const text = Buffer.from(randomBytes(3 * BLOCK_SIZE).toString('base64').slice(0, 3 * BLOCK_SIZE + 12345))
    writeFileSync(join(dir, 'files/workspace/big.txt'), text)
    const layer = await writeLayer((await scanKitFiles(dir)).entries, join(out, 'big.tgz'))
    const big = (await readLayer(layer.path)).find((e) => e.name === 'workspace/big.txt')!
    assert.equal(big.size, text.length)
    assert.ok(big.content === text.toString('utf8'))
  })

  it('fails on a file that turned binary after the scan, naming it, and removes its output', async () => {
    const dir = makeKit(mixin(), {'files/home/a.txt': 'abc\n', 'files/home/big.txt': 'x'.repeat(2 << 20)})
    const {entries} = await scanKitFiles(dir)
    writeFileSync(join(dir, 'files/home/a.txt'), Buffer.from([0x61, 0, 0x62, 0x0a]))
    const path = join(out, 'bad.tgz')
    await assert.rejects(writeLayer(entries, path, {kitDir: dir}), (err: unknown) => {
      assert.ok(err instanceof KitValidationError)
      assert.equal(err.diagnostics[0]!.file, join(dir, 'files/home/a.txt'))
      assert.match(err.message, /files\/home\/a\.txt is a binary file \(NUL byte at offset 1\)/)
      return true
    })
    assert.equal(existsSync(path), false)
    const big = Buffer.alloc(2 << 20, 'x')
    big[(2 << 20) - 3] = 0
    writeFileSync(join(dir, 'files/home/a.txt'), 'abc\n')
    writeFileSync(join(dir, 'files/home/big.txt'), big)
    await assert.rejects(writeLayer(entries, path, {kitDir: dir}), /files\/home\/big\.txt is a binary file/)
    assert.equal(existsSync(path), false)
  })

  it('fails when a file changed size after the scan', async () => {
    const dir = makeKit(mixin(), {'files/home/a.txt': 'abc\n'})
    const {entries} = await scanKitFiles(dir)
    writeFileSync(join(dir, 'files/home/a.txt'), 'abcdef\n')
    await assert.rejects(writeLayer(entries, join(out, 'changed.tgz'), {kitDir: dir}), /files\/home\/a\.txt changed during the build/)
  })
})

describe('kit-compiler: ParallelGzip', () => {
  const compress = async (data: Buffer, concurrency: number, chunk = 64 * 1024): Promise<Buffer> => {
    const parts: Buffer[] = []
    for (let i = 0; i < data.length; i += chunk) parts.push(data.subarray(i, i + chunk))
    const out: Buffer[] = []
    await pipeline(
      Readable.from(parts),
      new ParallelGzip({concurrency}),
      new Writable({
        write(c: Buffer, _e, cb) {
          out.push(c)
          cb()
        },
      }),
    )
    return Buffer.concat(out)
  }

  it('gives one gzip stream any gunzip reads, the same bytes whatever the concurrency or input chunking', async () => {
    const words = Array.from({length: 5000}, (_, i) => `line ${i} ${(i * 7919) % 1000} kit layer digest\n`).join('')
    const data = Buffer.from(words.repeat(Math.ceil((2.5 * BLOCK_SIZE) / words.length)))
    const one = await compress(data, 1)
    const four = await compress(data, 4, 1000)
    assert.ok(one.equals(four))
    assert.ok(gunzipSync(one).equals(data))
    assert.ok(one.length < data.length / 5)
  })

  it('handles empty input and input of exactly one block', async () => {
    assert.equal(gunzipSync(await compress(Buffer.alloc(0), 2)).length, 0)
    const exact = Buffer.alloc(BLOCK_SIZE, 'k')
    assert.ok(gunzipSync(await compress(exact, 2)).equals(exact))
  })

  it('is readable by the system gunzip (file round trip)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kit-pgz-'))
    try {
      const data = Buffer.from('abc\n'.repeat(BLOCK_SIZE / 2))
      writeFileSync(join(dir, 'x.gz'), await compress(data, 3))
      const back = execFileSync('gzip', ['-dc', join(dir, 'x.gz')], {maxBuffer: 64 << 20})
      assert.ok(back.equals(data))
      execFileSync('gzip', ['-t', join(dir, 'x.gz')])
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})
