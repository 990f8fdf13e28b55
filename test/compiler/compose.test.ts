import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {composeKitList, composeKits, CompositionError, type ComposeInput} from '../../kit-compiler/compose.js'
import {substituteArgs} from '../../kit-compiler/args.js'
import type {KitSpec} from '../../kit-compiler/model.js'
import type {KitFileEntry} from '../../kit-compiler/files.js'
import {corpusDir} from '../support/paths.js'

const agent = (extra: Partial<KitSpec> = {}): ComposeInput => ({
  spec: {schemaVersion: '2', kind: 'sandbox', name: 'agent', sandbox: {image: 'img:1', entrypoint: ['agent'], command: {default: ['--yolo']}}, ...extra},
})
const mixin = (name: string, extra: Partial<KitSpec> = {}, files?: KitFileEntry[]): ComposeInput => ({
  spec: {schemaVersion: '2', kind: 'mixin', name, ...extra},
  files,
})
const file = (path: string): KitFileEntry => ({path, type: 'file', mode: 0o644, size: 1})

describe('composeKits', () => {
  it('merges in order: network appended, env union, setup concatenated, privileged OR', () => {
    const {sandbox, conflicts} = composeKits(
      agent({permissions: {network: {allow: ['a.example']}}, environment: {variables: {A: '1'}}, setup: {install: [{command: 'one'}]}}),
      [
        mixin('m1', {permissions: {network: {allow: ['b.example'], deny: ['bad.example']}}, environment: {variables: {B: '2'}}, setup: {install: [{command: 'two'}], startup: [{command: ['s']}]}}),
        mixin('m2', {security: {privileged: true}, setup: {install: [{command: 'three'}]}}),
      ],
    )
    assert.deepEqual(sandbox.network.allow, [{rule: 'a.example', kit: 'agent'}, {rule: 'b.example', kit: 'm1'}])
    assert.deepEqual(sandbox.network.deny, [{rule: 'bad.example', kit: 'm1'}])
    assert.deepEqual(sandbox.environment, {A: '1', B: '2'})
    assert.deepEqual(sandbox.install.map((c) => [c.command, c.kit]), [['one', 'agent'], ['two', 'm1'], ['three', 'm2']])
    assert.equal(sandbox.privileged, true)
    assert.deepEqual(sandbox.agent.command, {default: ['--yolo'], interactive: ['--yolo']})
    assert.deepEqual(conflicts, [])
  })

  it('reports an overridden environment variable instead of hiding it (later kit wins)', () => {
    const {sandbox, conflicts} = composeKits(agent({environment: {variables: {MODE: 'a'}}}), [mixin('m', {environment: {variables: {MODE: 'b'}}})])
    assert.equal(sandbox.environment.MODE, 'b')
    assert.equal(sandbox.environmentSources.MODE, 'm')
    assert.deepEqual(conflicts.map((c) => [c.kind, c.key, c.overridden, c.by]), [['env-override', 'MODE', 'agent', 'm']])
  })

  it('overlays files/ by target path and reports each overwrite', () => {
    const {sandbox, conflicts} = composeKits(
      {...agent(), files: [{path: 'home', type: 'directory', mode: 0o755, size: 0}, file('home/agent/.rc'), file('workspace/a')]},
      [mixin('m', {}, [{path: 'home', type: 'directory', mode: 0o755, size: 0}, file('home/agent/.rc'), file('workspace/b')])],
    )
    assert.deepEqual(sandbox.layerFiles.map((f) => [f.path, f.kit]), [['home', 'agent'], ['home/agent/.rc', 'm'], ['workspace/a', 'agent'], ['workspace/b', 'm']])
    assert.deepEqual(conflicts.map((c) => [c.kind, c.key]), [['file-overwrite', 'home/agent/.rc']])
  })

  it('setup.files: a duplicate path keeps the later kit and is reported', () => {
    const {sandbox, conflicts} = composeKits(agent({setup: {files: [{path: '/x', content: 'a'}]}}), [mixin('m', {setup: {files: [{path: '/x', content: 'b'}]}})])
    assert.deepEqual(sandbox.files.map((f) => [f.path, f.content, f.kit]), [['/x', 'b', 'm']])
    assert.equal(conflicts[0].kind, 'setup-file-overwrite')
  })

  it('volumes: last wins per path; ports appended', () => {
    const {sandbox} = composeKits(agent({volumes: [{path: '/cache', size: '1g'}], ports: [{container: 3000}]}), [mixin('m', {volumes: [{path: '/cache', size: '2g'}], ports: [{container: 8080}]})])
    assert.deepEqual(sandbox.volumes.map((v) => v.size), ['2g'])
    assert.deepEqual(sandbox.ports.map((p) => p.container), [3000, 8080])
  })

  it('agent memory: the agent kit\'s file, one section per mixin', () => {
    const {sandbox} = composeKits(agent({agentInstructions: {filename: 'CLAUDE.md', content: 'main'}}), [mixin('m', {agentInstructions: {content: 'tool docs'}})])
    assert.deepEqual(sandbox.memory, {filename: 'CLAUDE.md', content: 'main', sections: [{kit: 'm', content: 'tool docs'}]})
  })

  const hard: Array<[string, () => unknown, RegExp]> = [
    ['two agents', () => composeKitList([agent(), {spec: {...agent().spec, name: 'other'}}]), /two sandbox \(agent\) kits: agent and other/],
    ['zero agents', () => composeKitList([mixin('m')]), /no sandbox \(agent\) kit/],
    ['duplicate names', () => composeKits(agent(), [mixin('m'), mixin('m')]), /kit name m appears twice/],
    ['one credential service in two kits', () => composeKits(agent({credentials: [{service: 'gh', apiKey: {name: 'A'}}]}), [mixin('m', {credentials: [{service: 'gh', apiKey: {name: 'B'}}]})]), /credential service gh is declared by both agent and m/],
    ['requires not met', () => composeKits(agent(), [mixin('m', {requires: {agent: 'claude'}})]), /kit m requires agent claude, but the agent kit is agent/],
    ['a locked field set by a later kit', () => composeKits(agent({locked: ['permissions.network']}), [mixin('m', {permissions: {network: {allow: ['x.example']}}})]), /kit m sets permissions\.network, which kit agent locks/],
    ['an agent without image', () => composeKits({spec: {schemaVersion: '2', kind: 'sandbox', name: 'a', extends: 'base'}}, []), /has no sandbox\.image \(extends base/],
  ]
  for (const [title, run, message] of hard) {
    it(`hard conflict is an error: ${title}`, () => {
      assert.throws(run, (error: unknown) => error instanceof CompositionError && message.test(error.message))
    })
  }
})

describe('kit args in files/ payloads', () => {
  it('substitutes references and keeps an escaped opener literal (tck args-install config.txt)', () => {
    const text = readFileSync(join(corpusDir, 'tck', 'args-install', 'files', 'home', '.args-install', 'config.txt'), 'utf8')
    assert.equal(substituteArgs(text, {version: '1.20'}), 'version=1.20\nliteral=${{ kit.args.version }}\n')
  })
  it('leaves other ${{ }} namespaces alone and trims whitespace inside the braces', () => {
    assert.equal(substituteArgs('${{github.sha}} ${{kit.args.a}} ${{   kit.args.a\t}}', {a: 'x'}), '${{github.sha}} x x')
  })
})
