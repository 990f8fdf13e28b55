// SPEC-v3 §7.4 permission surface (pure): what counts, what does not, and which changes widen.
import assert from 'node:assert/strict'
import {permissionSurface, widenings} from '../../kit-compiler/v3/surface.js'

const np = (runtime: object) => ({type: 'com.docker.sandbox/network-policy@1', config: {runtime}})
const cred = (service: string, phase: unknown = 'runtime') => ({type: 'com.docker.sandbox/credential@1', config: {service, phase, apiKey: {name: 'X'}}})

describe('v3 permission surface (§7.4)', () => {
  it('projects network, credentials by phase, ports, paths, privileged; lifecycle/resources/agent-context add nothing', () => {
    const s = permissionSurface({capabilities: [
      np({allow: ['GitHub.com'], deny: ['evil.example.com']}), cred('github', ['install', 'runtime']),
      {type: 'com.docker.sandbox/port@1', config: {container: 8080}}, {type: 'com.docker.sandbox/volume@1', config: {path: '/data/'}},
      {type: 'com.docker.sandbox/privileged@1'}, {type: 'com.docker.sandbox/lifecycle@1', config: {install: [{command: 'x'}]}},
      {type: 'com.docker.sandbox/resources@1', config: {cpu: 2}}, {type: 'com.docker.sandbox/agent-context@1', config: {content: 'x'}},
    ] as any})
    assert.deepEqual(s.grants, ['cred:install:github', 'cred:runtime:github', 'net:runtime:allow:github.com', 'path:/data', 'port:8080/tcp', 'privileged'])
    assert.deepEqual(s.denies, ['net:runtime:deny:evil.example.com'])
  })
  it('optional and capability names do not change the surface', () => {
    const a = permissionSurface({capabilities: [{...cred('gh'), optional: true, name: 'GitHub'}] as any})
    const b = permissionSurface({capabilities: [cred('gh')] as any})
    assert.deepEqual(a, b)
  })
  it('widenings: a new allow, a removed deny, a new credential, another config of an unknown type; narrowing is silent', () => {
    const old = permissionSurface({capabilities: [np({allow: ['a.example.com', 'b.example.com'], deny: ['x.example.com']}), cred('gh'), {type: 'com.example/thing@1', config: {level: 1}}] as any})
    assert.deepEqual(widenings(old, permissionSurface({capabilities: [np({allow: ['a.example.com'], deny: ['x.example.com']}), cred('gh'), {type: 'com.example/thing@1', config: {level: 1}}] as any})), [])
    const next = permissionSurface({capabilities: [np({allow: ['a.example.com', 'c.example.com']}), cred('gh'), cred('npm'), {type: 'com.example/thing@1', config: {level: 2}}] as any})
    const w = widenings(old, next).map((x) => `${x.kind} ${x.entry.replace(/:[0-9a-f]{16}$/, ':<digest>')}`)
    assert.deepEqual(w.sort(), [
      'new-grant cred:runtime:npm', 'new-grant net:runtime:allow:c.example.com', 'new-grant type:com.example/thing@1:<digest>', 'removed-deny net:runtime:deny:x.example.com',
    ])
  })
})
