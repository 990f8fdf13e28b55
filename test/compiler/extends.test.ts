import assert from 'node:assert/strict'
import {join} from 'node:path'
import {loadKit, type LoadedKit} from '../../kit-compiler/load.js'
import {resolveExtends, ExtendsError, type ParentResolver} from '../../kit-compiler/extends.js'
import {composeKits} from '../../kit-compiler/compose.js'
import {cleanupKits, makeKit} from '../support/kit-dir.js'

const base = `schemaVersion: "2"
kind: sandbox
name: base
locked: [security]
sandbox:
  image: example/base:1
  entrypoint: [agent]
  command: {default: [--quiet]}
agentInstructions: {filename: AGENTS.md, content: base memory}
permissions:
  network:
    allow: [a.example]
credentials:
  - service: svc
    apiKey: {name: SVC_KEY, inject: [{domain: a.example, scheme: bearer}]}
environment:
  variables: {MODE: base, KEEP: yes}
setup:
  install: [{command: base-install}]
  files: [{path: /etc/x, content: base}]
`
const child = (extendsWhat: string, extra = '') => `schemaVersion: "2"
kind: sandbox
name: child
extends: ${extendsWhat}
sandbox:
  entrypoint: [agent2]
permissions:
  network:
    allow: [b.example]
environment:
  variables: {MODE: child}
setup:
  install: [{command: child-install}]
  files: [{path: /etc/x, content: child}]
${extra}`

/** Parents are kit directories beside the child, by name. */
function byDir(dirs: Record<string, string>): ParentResolver {
  return async (name) => {
    const dir = dirs[name]
    if (!dir) throw new Error(`no parent ${name}`)
    return {kit: await loadKit(dir), id: dir}
  }
}

describe('extends: a sandbox kit inherits from its parent', () => {
  after(cleanupKits)

  it('merges: child wins for values, lists are parent then child, keyed entries keep the child, files overlay', async () => {
    const parentDir = makeKit(base, {'files/home/.rc': 'parent\n', 'files/home/.only-parent': 'p\n'})
    const childDir = makeKit(child('base'), {'files/home/.rc': 'child\n'})
    const {kit, chain} = await resolveExtends(await loadKit(childDir), byDir({base: parentDir}))
    assert.deepEqual(chain, ['child', 'base'])
    assert.equal(kit.spec.name, 'child')
    assert.equal(kit.spec.extends, undefined)
    assert.equal(kit.spec.sandbox?.image, 'example/base:1', 'image inherited')
    assert.deepEqual(kit.spec.sandbox?.entrypoint, ['agent2'], 'entrypoint overridden')
    assert.deepEqual(kit.spec.permissions?.network?.allow, ['a.example', 'b.example'])
    assert.deepEqual(kit.spec.environment?.variables, {MODE: 'child', KEEP: 'yes'})
    assert.deepEqual(kit.spec.setup?.install?.map((c) => c.command), ['base-install', 'child-install'])
    assert.deepEqual(kit.spec.setup?.files, [{path: '/etc/x', content: 'child'}])
    assert.equal(kit.spec.credentials?.[0].service, 'svc')
    assert.equal(kit.spec.agentInstructions?.filename, 'AGENTS.md')
    const rc = kit.files.find((f) => f.path === 'home/agent/.rc')
    assert.equal(rc?.source, join(childDir, 'files', 'home', '.rc'))
    assert.ok(kit.files.some((f) => f.path === 'home/agent/.only-parent'))
    // And the result composes like any sandbox kit.
    const {sandbox} = composeKits({spec: kit.spec, files: kit.files}, [])
    assert.equal(sandbox.agent.image, 'example/base:1')
  })

  it('follows several levels, and refuses more than five', async () => {
    const dirs: Record<string, string> = {l0: makeKit(base.replace('name: base', 'name: l0'))}
    for (let i = 1; i <= 6; i++) {
      dirs[`l${i}`] = makeKit(`schemaVersion: "2"\nkind: sandbox\nname: l${i}\nextends: l${i - 1}\nenvironment: {variables: {LEVEL: "${i}"}}\n`)
    }
    const five = await resolveExtends(await loadKit(dirs.l5!), byDir(dirs))
    assert.equal(five.chain.length, 6)
    assert.equal(five.kit.spec.environment?.variables?.LEVEL, '5')
    await assert.rejects(resolveExtends(await loadKit(dirs.l6!), byDir(dirs)), (e: unknown) => e instanceof ExtendsError && /deeper than 5 levels/.test(e.message))
  })

  it('refuses a cycle', async () => {
    const dirs: Record<string, string> = {}
    dirs.a = makeKit('schemaVersion: "2"\nkind: sandbox\nname: a\nextends: b\n')
    dirs.b = makeKit('schemaVersion: "2"\nkind: sandbox\nname: b\nextends: a\n')
    await assert.rejects(resolveExtends(await loadKit(dirs.a), byDir(dirs), dirs.a), /extends cycle \(a → b → a\)/)
  })

  it('refuses a child that sets what its parent locks', async () => {
    const parentDir = makeKit(base)
    const childDir = makeKit(child('base', 'security: {privileged: true}\n'))
    await assert.rejects(resolveExtends(await loadKit(childDir), byDir({base: parentDir})), /kit child sets security, which its parent base locks/)
  })

  it('refuses a mixin as parent', async () => {
    const parentDir = makeKit('schemaVersion: "2"\nkind: mixin\nname: base\n')
    const childDir = makeKit(child('base'))
    await assert.rejects(resolveExtends(await loadKit(childDir), byDir({base: parentDir})), /extends base, which is a mixin, not a sandbox kit/)
  })

  it('a kit without extends is returned as it is', async () => {
    const kit: LoadedKit = await loadKit(makeKit(base))
    const r = await resolveExtends(kit, byDir({}))
    assert.equal(r.kit, kit)
  })
})
