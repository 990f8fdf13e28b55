// kit run's kit resolution follows `extends` to a parent directory beside the agent kit.
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {composeSources, locateKit} from '../../runtime/sandbox/resolve.js'

describe('runtime: an agent kit that extends a parent', () => {
  let root: string
  before(() => (root = mkdtempSync(join(tmpdir(), 'kit-extends-'))))
  after(() => rmSync(root, {recursive: true, force: true}))

  it('composes the merged kit: the parent\'s image and allows, the child\'s entrypoint', async () => {
    const env = {...process.env, KIT_HOME: join(root, 'home')}
    const store = await OciLayoutStore.open(join(root, 'home', 'store'))
    mkdirSync(join(root, 'kits', 'base'), {recursive: true})
    mkdirSync(join(root, 'kits', 'team-agent'), {recursive: true})
    writeFileSync(join(root, 'kits', 'base', 'spec.yaml'), 'schemaVersion: "2"\nkind: sandbox\nname: base\nsandbox: {image: "example/base:1", entrypoint: [bash]}\npermissions: {network: {allow: [a.example]}}\n')
    writeFileSync(join(root, 'kits', 'team-agent', 'spec.yaml'), 'schemaVersion: "2"\nkind: sandbox\nname: team-agent\nextends: ../base\nsandbox: {entrypoint: [zsh]}\npermissions: {network: {allow: [b.example]}}\n')
    const agent = await locateKit(join(root, 'kits', 'team-agent'), {store, env})
    const c = await composeSources([agent], {}, {store, env})
    assert.equal(c.sandbox.agent.name, 'team-agent')
    assert.equal(c.sandbox.agent.image, 'example/base:1')
    assert.deepEqual(c.sandbox.agent.entrypoint, ['zsh'])
    assert.deepEqual(c.sandbox.network.allow.map((r) => r.rule), ['a.example', 'b.example'])
  })
})
