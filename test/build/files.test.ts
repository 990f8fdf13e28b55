import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {chmodSync, linkSync, mkdirSync, symlinkSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {join} from 'node:path'
import {scanKitFiles, TextChecker} from '../../kit-compiler/files.js'
import {mkfifoSync} from '../compiler/fifo.js'
import {cleanupKits, makeKit, mixin} from '../support/kit-dir.js'

const errorsOf = (r: Awaited<ReturnType<typeof scanKitFiles>>) => r.diagnostics.filter((d) => d.severity === 'error')

describe('kit-compiler: scanKitFiles', () => {
  after(cleanupKits)

  it('maps files/home to home/agent and files/workspace to workspace, sorted, with parent directories', async () => {
    const dir = makeKit(mixin(), {
      'files/home/.config/tool/b.toml': 'b = 1\n',
      'files/home/.config/tool/a-b.toml': 'x\n',
      'files/home/.bashrc': 'export A=1\n',
      'files/workspace/lint.toml': 'rules = []\n',
    })
    const r = await scanKitFiles(dir)
    assert.deepEqual(r.diagnostics, [])
    assert.deepEqual(
      r.entries.map((e) => [e.path, e.type]),
      [
        ['home', 'directory'],
        ['home/agent', 'directory'],
        ['home/agent/.bashrc', 'file'],
        ['home/agent/.config', 'directory'],
        ['home/agent/.config/tool', 'directory'],
        ['home/agent/.config/tool/a-b.toml', 'file'],
        ['home/agent/.config/tool/b.toml', 'file'],
        ['workspace', 'directory'],
        ['workspace/lint.toml', 'file'],
      ],
    )
    assert.equal(r.entries.find((e) => e.path === 'workspace/lint.toml')?.size, 'rules = []\n'.length)
  })

  it('sorts in byte order, not locale order', async () => {
    const dir = makeKit(mixin(), {'files/workspace/B': '1\n', 'files/workspace/a': '1\n', 'files/workspace/_': '1\n', 'files/workspace/é': '1\n'})
    const r = await scanKitFiles(dir)
    assert.deepEqual(r.entries.map((e) => e.path).slice(1), ['workspace/B', 'workspace/_', 'workspace/a', 'workspace/é'])
  })

  it('normalises modes: executables 0755, other files 0644, directories 0755', async () => {
    const dir = makeKit(mixin(), {
      'files/workspace/run.sh': {content: '#!/bin/sh\n', mode: 0o700},
      'files/workspace/group-x': {content: 'x\n', mode: 0o610},
      'files/workspace/private': {content: 'x\n', mode: 0o600},
      'files/workspace/open': {content: 'x\n', mode: 0o666},
    })
    chmodSync(join(dir, 'files/workspace'), 0o700)
    const modes = Object.fromEntries((await scanKitFiles(dir)).entries.map((e) => [e.path, e.mode]))
    assert.deepEqual(modes, {
      workspace: 0o755,
      'workspace/group-x': 0o755,
      'workspace/open': 0o644,
      'workspace/private': 0o644,
      'workspace/run.sh': 0o755,
    })
  })

  it('ignores anything else under files/ with a warning naming it', async () => {
    const dir = makeKit(mixin(), {'files/etc/passwd': 'x\n', 'files/README': 'hi\n', 'files/home/.a': 'a\n'})
    const r = await scanKitFiles(dir)
    assert.deepEqual(errorsOf(r), [])
    const warnings = r.diagnostics.map((d) => [d.severity, d.file, d.code])
    assert.deepEqual(warnings.sort(), [
      ['warning', join(dir, 'files/README'), 'files-ignored'],
      ['warning', join(dir, 'files/etc'), 'files-ignored'],
    ])
    assert.match(r.diagnostics[0]!.message, /only files\/home and files\/workspace/)
    assert.deepEqual(r.entries.map((e) => e.path), ['home', 'home/agent', 'home/agent/.a'])
  })

  it('a kit without files/ has no entries; files/home alone gives home and home/agent', async () => {
    assert.deepEqual(await scanKitFiles(makeKit(mixin())), {entries: [], diagnostics: []})
    const dir = makeKit(mixin())
    mkdirSync(join(dir, 'files/home'), {recursive: true})
    assert.deepEqual((await scanKitFiles(dir)).entries.map((e) => e.path), ['home', 'home/agent'])
  })

  it('a symlink to /etc/passwd is an error naming the link', async () => {
    const dir = makeKit(mixin(), {'files/home/.a': 'a\n'})
    symlinkSync('/etc/passwd', join(dir, 'files/home/passwd'))
    const r = await scanKitFiles(dir)
    const [e, ...more] = errorsOf(r)
    assert.equal(more.length, 0)
    assert.equal(e!.file, join(dir, 'files/home/passwd'))
    assert.equal(e!.code, 'symlink-escape')
    assert.match(e!.message, /files\/home\/passwd -> \/etc\/passwd resolves outside the kit/)
    assert.ok(!r.entries.some((x) => x.path.endsWith('passwd')))
  })

  it('a relative symlink climbing out of the kit is an error', async () => {
    const dir = makeKit(mixin(), {'files/workspace/.keep': '\n'})
    symlinkSync('../../../..', join(dir, 'files/workspace/up'))
    const [e] = errorsOf(await scanKitFiles(dir))
    assert.equal(e!.code, 'symlink-escape')
    assert.equal(e!.file, join(dir, 'files/workspace/up'))
  })

  it('files/ itself being a symlink out of the kit is an error', async () => {
    const outside = makeKit(mixin(), {'home/.a': 'a\n'})
    const dir = makeKit(mixin())
    symlinkSync(outside, join(dir, 'files'))
    const [e] = errorsOf(await scanKitFiles(dir))
    assert.equal(e!.code, 'symlink-escape')
    assert.equal(e!.file, join(dir, 'files'))
  })

  it('a symlink inside the kit is stored as what it points at (file and directory)', async () => {
    const dir = makeKit(mixin(), {'shared/config.toml': 'shared = true\n', 'shared/dir/x.txt': 'x\n', 'files/home/.keep': '\n'})
    chmodSync(join(dir, 'shared/config.toml'), 0o755)
    symlinkSync('../../shared/config.toml', join(dir, 'files/home/config.toml'))
    symlinkSync(join(dir, 'shared/dir'), join(dir, 'files/home/dir'))
    const r = await scanKitFiles(dir)
    assert.deepEqual(errorsOf(r), [])
    const byPath = Object.fromEntries(r.entries.map((e) => [e.path, e]))
    assert.equal(byPath['home/agent/config.toml']?.type, 'file')
    assert.equal(byPath['home/agent/config.toml']?.mode, 0o755)
    assert.equal(byPath['home/agent/config.toml']?.size, 'shared = true\n'.length)
    assert.equal(byPath['home/agent/dir']?.type, 'directory')
    assert.equal(byPath['home/agent/dir/x.txt']?.type, 'file')
  })

  it('a dangling symlink and a symlink loop are errors naming the link', async () => {
    const dir = makeKit(mixin(), {'files/home/.keep': '\n'})
    symlinkSync('nowhere', join(dir, 'files/home/dangling'))
    symlinkSync('..', join(dir, 'files/home/parent'))
    const errors = errorsOf(await scanKitFiles(dir))
    assert.deepEqual(errors.map((e) => [e.file, e.code]).sort(), [
      [join(dir, 'files/home/dangling'), 'symlink-dangling'],
      [join(dir, 'files/home/parent'), 'symlink-loop'],
    ])
  })

  it('a hardlink is an error naming the file', async () => {
    const dir = makeKit(mixin(), {'files/home/a.txt': 'a\n'})
    linkSync(join(dir, 'files/home/a.txt'), join(dir, 'files/home/b.txt'))
    const errors = errorsOf(await scanKitFiles(dir))
    assert.deepEqual(errors.map((e) => e.file).sort(), [join(dir, 'files/home/a.txt'), join(dir, 'files/home/b.txt')])
    assert.ok(errors.every((e) => e.code === 'hardlink' && /is a hard link \(2 links\)/.test(e.message)))
  })

  it('a FIFO is an error naming it (and is never opened)', async function () {
    const dir = makeKit(mixin(), {'files/workspace/.keep': '\n'})
    if (!mkfifoSync(join(dir, 'files/workspace/pipe'))) this.skip()
    const [e] = errorsOf(await scanKitFiles(dir))
    assert.equal(e!.file, join(dir, 'files/workspace/pipe'))
    assert.equal(e!.code, 'special-file')
    assert.match(e!.message, /files\/workspace\/pipe is a FIFO/)
  })

  it('a socket is an error naming it', async function () {
    const dir = makeKit(mixin(), {'files/workspace/.keep': '\n'})
    const server: Server = createServer()
    // A unix socket path has a length limit (108 bytes); a very long TMPDIR cannot hold one.
    const listening = await new Promise<boolean>((res) => {
      server.once('error', () => res(false))
      server.listen(join(dir, 'files/workspace/sock'), () => res(true))
    })
    if (!listening) this.skip()
    try {
      const [e] = errorsOf(await scanKitFiles(dir))
      assert.equal(e!.file, join(dir, 'files/workspace/sock'))
      assert.match(e!.message, /is a socket/)
    } finally {
      server.close()
    }
  })

  it('a device node is an error naming it', async function () {
    const dir = makeKit(mixin(), {'files/workspace/.keep': '\n'})
    // Needs CAP_MKNOD; skipped where the test does not run as root.
    if (spawnSync('mknod', [join(dir, 'files/workspace/null'), 'c', '1', '3']).status !== 0) this.skip()
    const [e] = errorsOf(await scanKitFiles(dir))
    assert.equal(e!.file, join(dir, 'files/workspace/null'))
    assert.match(e!.message, /is a character device/)
  })

  it('a name that is not valid UTF-8 is an error showing the bytes', async () => {
    const dir = makeKit(mixin(), {'files/home/.keep': '\n'})
    writeFileSync(Buffer.concat([Buffer.from(join(dir, 'files/home/bad-')), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]), 'x\n')
    const [e] = errorsOf(await scanKitFiles(dir))
    assert.equal(e!.code, 'name-not-utf8')
    assert.equal(e!.file, join(dir, 'files/home/bad-\\xff\\xfe.txt'))
    assert.match(e!.message, /files\/home\/bad-\\xff\\xfe\.txt is not valid UTF-8/)
  })

  it('a binary file (NUL byte, invalid UTF-8) is an error naming it', async () => {
    const dir = makeKit(mixin(), {'files/home/ok.txt': 'héllo ✓ 😀\n'})
    writeFileSync(join(dir, 'files/home/tool.bin'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x00, 0x01]))
    writeFileSync(join(dir, 'files/home/latin1.txt'), Buffer.from('caf\xe9\n', 'latin1'))
    const errors = errorsOf(await scanKitFiles(dir))
    assert.deepEqual(errors.map((e) => [e.file, e.code]).sort(), [
      [join(dir, 'files/home/latin1.txt'), 'binary-file'],
      [join(dir, 'files/home/tool.bin'), 'binary-file'],
    ])
    const bin = errors.find((e) => e.file.endsWith('tool.bin'))!
    assert.match(bin.message, /files\/home\/tool\.bin is a binary file \(NUL byte at offset 5\)/)
  })

  it('reads big files in chunks: a multi-byte character across a chunk boundary is fine, a late NUL is found', async () => {
    const dir = makeKit(mixin(), {'files/workspace/.keep': '\n'})
    const big = Buffer.alloc((1 << 20) + 10, 'a')
    Buffer.from('é').copy(big, (1 << 20) - 1) // straddles the 1 MiB read boundary
    writeFileSync(join(dir, 'files/workspace/big.txt'), big)
    assert.deepEqual(errorsOf(await scanKitFiles(dir)), [])
    big[(1 << 20) + 5] = 0
    writeFileSync(join(dir, 'files/workspace/big.txt'), big)
    const [e] = errorsOf(await scanKitFiles(dir))
    assert.match(e!.message, new RegExp(`NUL byte at offset ${(1 << 20) + 5}`))
  })

  it('checkContent: false skips reading contents', async () => {
    const dir = makeKit(mixin(), {'files/home/.keep': '\n'})
    writeFileSync(join(dir, 'files/home/x.bin'), Buffer.from([0, 1, 2]))
    assert.deepEqual(errorsOf(await scanKitFiles(dir, {checkContent: false})), [])
  })

  it('files/home that is a file is an error', async () => {
    const dir = makeKit(mixin(), {'files/home': 'not a dir\n'})
    const [e] = errorsOf(await scanKitFiles(dir))
    assert.equal(e!.code, 'target-not-dir')
    assert.equal(e!.file, join(dir, 'files/home'))
  })
})

describe('kit-compiler: TextChecker', () => {
  const check = (...chunks: number[][]): string | undefined => {
    const c = new TextChecker()
    for (const chunk of chunks) {
      const p = c.update(Buffer.from(chunk))
      if (p) return p
    }
    return c.end()
  }
  it('accepts UTF-8 split anywhere', () => {
    const bytes = [...Buffer.from('a€😀b')]
    for (let i = 0; i <= bytes.length; i++) assert.equal(check(bytes.slice(0, i), bytes.slice(i)), undefined, `split at ${i}`)
  })
  it('rejects truncated, overlong and stray bytes', () => {
    assert.match(check([0xe2, 0x82])!, /truncated/)
    assert.match(check([0xc0, 0xaf])!, /invalid UTF-8/)
    assert.match(check([0x61, 0x80])!, /invalid UTF-8/)
    assert.match(check([0x61], [0x00])!, /NUL byte at offset 1/)
  })
})

describe('kit-compiler: scanKitFiles mayReferenceArgs', () => {
  after(cleanupKits)
  it('flags files containing ${{ (also across a read boundary), so loaders need not re-read the others', async () => {
    const seam = Buffer.alloc((1 << 20) + 8, 'a')
    Buffer.from('${{ kit.args.x }}').copy(seam, (1 << 20) - 1)
    const dir = makeKit(mixin(), {'files/home/plain.txt': 'no refs $ { {\n', 'files/home/ref.txt': 'v=${{ kit.args.x }}\n'})
    writeFileSync(join(dir, 'files/home/seam.txt'), seam)
    const flags = Object.fromEntries((await scanKitFiles(dir)).entries.filter((e) => e.type === 'file').map((e) => [e.path, e.mayReferenceArgs]))
    assert.deepEqual(flags, {'home/agent/plain.txt': false, 'home/agent/ref.txt': true, 'home/agent/seam.txt': true})
    const unchecked = (await scanKitFiles(dir, {checkContent: false})).entries.find((e) => e.path === 'home/agent/ref.txt')
    assert.equal(unchecked?.mayReferenceArgs, undefined)
  })
})
