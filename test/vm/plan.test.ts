// The pieces of the VM layer that need no VM: the cpio writer (read back by GNU cpio), the plan
// compiler (its shell quoting read back by a real sh), the memory layout, and module resolution
// on the real Debian kernel when one is cached.
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {cpioNewc} from '../../runtime/vm/cpio.js'
import {planArchive} from '../../runtime/vm/initramfs.js'
import {resolveModules, stripModuleSignature} from '../../runtime/vm/kernel.js'
import {compilePlan, GuestContext, renderMemory, shQuote} from '../../runtime/vm/plan.js'
import {agentPath, DEFAULT_PATH} from '../../runtime/vm/guest-env.js'
import {SHARED_CACHE} from './support.js'

const ctx = (over: Partial<GuestContext> = {}): GuestContext => ({
  hostname: 'demo', workdir: '/workspace', layers: 2, address: '10.0.2.15/24',
  agentEnv: {PATH: '/usr/bin:/bin', HOME: '/home/agent'}, rootEnv: {HOME: '/root'}, command: ['echo', 'hi'], ...over,
})

describe('vm: cpio, plan, memory, modules', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kit-vm-plan-'))
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('writes newc archives that GNU cpio lists and extracts byte for byte', () => {
    const bin = Buffer.from([0, 1, 2, 255, 10, 13])
    const archive = cpioNewc([
      {type: 'dir', path: 'a'},
      {type: 'file', path: 'a/x.bin', data: bin, mode: 0o755},
      {type: 'file', path: 'a/odd name.txt', data: 'é\n'},
      {type: 'symlink', path: 'a/link', target: 'x.bin'},
    ])
    writeFileSync(join(dir, 'x.cpio'), archive)
    const list = execFileSync('cpio', ['-it', '--quiet', '-F', join(dir, 'x.cpio')], {encoding: 'utf8'}).trim().split('\n')
    assert.deepEqual(list, ['a', 'a/x.bin', 'a/odd name.txt', 'a/link'])
    execFileSync('cpio', ['-idm', '--quiet', '-F', join(dir, 'x.cpio')], {cwd: dir})
    assert.deepEqual(readFileSync(join(dir, 'a/x.bin')), bin)
    assert.equal(readFileSync(join(dir, 'a/odd name.txt'), 'utf8'), 'é\n')
    assert.deepEqual(cpioNewc([{type: 'file', path: 'f', data: 'x'}]), cpioNewc([{type: 'file', path: 'f', data: 'x'}]), 'deterministic')
    assert.throws(() => cpioNewc([{type: 'file', path: '../evil', data: ''}]), /bad entry path/)
  })

  it('quotes any string so sh reads it back unchanged', () => {
    for (const s of ['plain', "it's", '$HOME `id` $(id) "q" \\ \n newline', '', '*', '-n']) {
      const back = execFileSync('sh', ['-c', `printf %s ${shQuote(s)}`], {encoding: 'utf8'})
      assert.equal(back, s)
    }
    assert.throws(() => shQuote('a\0b'), /NUL/)
  })

  it('compiles the plan in kit-format order, with data files and env scripts', () => {
    const {files} = compilePlan({
      install: [{command: "apt-get install -y 'x'"}],
      files: [{path: '/home/agent/.rc', content: 'dir=${WORKDIR}', mode: '0600', onlyIfMissing: true}],
      startup: [{command: ['svc', '--flag'], background: true}],
      memory: [{path: '/home/agent/AGENTS.md', content: '# m'}],
    }, ctx({caCertPem: 'PEM'}))
    const script = files.get('plan.sh')!.data
    const order = script.split('\n').filter(l => l.startsWith('kit_')).map(l => l.split(' ')[0] + (l.startsWith('kit_file') ? ':' + l.split(' ')[1] : ''))
    assert.deepEqual(order, ['kit_workdir', 'kit_hostname', 'kit_network', 'kit_ca', 'kit_user', 'kit_home_layer', 'kit_home_layer',
      'kit_install', 'kit_file:files', 'kit_startup', 'kit_workspace_layer', 'kit_workspace_layer', 'kit_file:memory', 'kit_run'])
    assert.match(script, /kit_file files 0 '\/home\/agent\/\.rc' '0600' 1 'data\/\d+'/)
    assert.match(script, /kit_startup 0 '1000' 1 'svc' '--flag'/)
    assert.match(script, /kit_run 'echo' 'hi'/)
    const dataFiles = [...files.entries()].filter(([k]) => k.startsWith('data/')).map(([, v]) => v.data)
    assert.ok(dataFiles.includes('dir=/workspace'), '${WORKDIR} substituted')
    assert.ok(dataFiles.includes("apt-get install -y 'x'"))
    assert.equal(files.get('agent-env.sh')!.data, "export PATH='/usr/bin:/bin'\nexport HOME='/home/agent'\n")
    for (const f of files.values()) assert.equal(f.mode, 0o600, 'the plan is root-only in the guest')
  })

  it('puts the kits\' helper directories on the agent\'s PATH ahead of the image\'s (for sh -c and kit exec, not only a login shell)', () => {
    assert.equal(agentPath({}, '/home/agent'), `/home/agent/.local/bin:${DEFAULT_PATH}`)
    assert.equal(agentPath({PATH: '/opt/x/bin:/usr/bin'}, '/home/agent'), '/home/agent/.local/bin:/opt/x/bin:/usr/bin')
    assert.equal(agentPath({PATH: '/home/agent/.local/bin:/usr/bin', NPM_CONFIG_PREFIX: '/home/agent/.npm-global/'}, '/home/agent'), '/home/agent/.npm-global/bin:/home/agent/.local/bin:/usr/bin')
    assert.equal(agentPath({NPM_CONFIG_PREFIX: 'relative'}, '/h'), `/h/.local/bin:${DEFAULT_PATH}`)
  })

  it('refuses plans the guest cannot run', () => {
    assert.throws(() => compilePlan({install: [], files: [], startup: []}, ctx({command: undefined})), /no command and no entrypoint/)
    assert.throws(() => compilePlan({install: [], files: [{path: 'rel', content: ''}], startup: []}, ctx()), /not absolute/)
    assert.throws(() => compilePlan({install: [], files: [{path: '/x', content: '', mode: 'rwx'}], startup: []}, ctx()), /octal/)
    assert.throws(() => compilePlan({install: [], files: [], startup: []}, ctx({agentEnv: {'BAD-NAME': 'x'}})), /not valid/)
  })

  it('uses the entrypoint when there is no command', () => {
    const {files} = compilePlan({install: [], files: [], startup: [], entrypoint: ['agent', '--headless']}, ctx({command: undefined}))
    assert.match(files.get('plan.sh')!.data, /kit_run 'agent' '--headless'/)
  })

  it('lays out agent memory with a kits section and one file per mixin', () => {
    const files = renderMemory('/home/agent/', 'CLAUDE.md', '# Agent', [{name: 'node', content: 'Use node.'}, {name: 'empty', content: ' '}])
    assert.deepEqual(files.map(f => f.path), ['/home/agent/CLAUDE.md', '/home/agent/kits-memory/node.md'])
    assert.equal(files[0].content, '# Agent\n\n<!-- sbx:kits-section start -->\n## Kits\n\n- node: see kits-memory/node.md\n<!-- sbx:kits-section end -->\n')
    assert.equal(renderMemory('/h', 'AGENTS.md', 'x\n', []).length, 1)
  })

  it('packs the per-run plan under /kit', () => {
    const files = compilePlan({install: [], files: [], startup: []}, ctx()).files
    writeFileSync(join(dir, 'plan.cpio'), gunzipSync(planArchive(files)))
    const list = execFileSync('cpio', ['-it', '--quiet', '-F', join(dir, 'plan.cpio')], {encoding: 'utf8'}).trim().split('\n')
    assert.ok(list.includes('kit/plan.sh') && list.includes('kit/agent-env.sh') && list.includes('kit/plan.json'), list.join(','))
  })

  it('resolves kernel modules dependencies first (on the cached Debian kernel)', async function () {
    const base = join(SHARED_CACHE, 'home', 'cache', 'kernel')
    const current = join(base, 'current')
    if (!existsSync(current)) this.skip()
    const name = readFileSync(current, 'utf8').trim()
    const mods = join(base, name, 'lib', 'modules')
    const version = execFileSync('ls', [mods], {encoding: 'utf8'}).trim().split('\n')[0]
    const order = (await resolveModules(join(mods, version), ['9p', 'virtio_pci', 'ext4'])).map(m => m.name)
    const before = (a: string, b: string) => assert.ok(order.indexOf(a) >= 0 && order.indexOf(a) < order.indexOf(b), `${a} before ${b}: ${order}`)
    before('9pnet', '9p')
    before('netfs', '9p')
    before('virtio', 'virtio_pci')
    before('virtio_ring', 'virtio_pci')
    before('jbd2', 'ext4')
    await assert.rejects(resolveModules(join(mods, version), ['no_such_module']), /not found/)
    const ext4 = (await resolveModules(join(mods, version), ['ext4'])).find(m => m.name === 'ext4')!
    const stripped = stripModuleSignature(ext4.data)
    assert.ok(ext4.data.toString('latin1').endsWith('~Module signature appended~\n'), 'Debian signs its modules')
    assert.ok(stripped.length < ext4.data.length && stripped.subarray(0, 4).toString('latin1') === '\x7fELF')
    assert.equal(stripModuleSignature(stripped), stripped)
  })
})
