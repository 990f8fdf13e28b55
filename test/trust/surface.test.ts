// The permission surface: normalised, sorted, and what counts as wider.
import assert from 'node:assert/strict'
import type {KitSpec} from '../../kit-compiler/model.js'
import {parseSurface, permissionSurface, surfaceWidening} from '../../kit-compiler/trust/surface.js'

function spec(extra: Partial<KitSpec>): KitSpec {
  return {schemaVersion: '2', kind: 'mixin', name: 'm', ...extra} as KitSpec
}

const base = spec({
  permissions: {network: {allow: ['API.example.com', 'files.example.com:8443', '*.cdn.example.com'], deny: ['evil.example.com']}},
  credentials: [{service: 'gh', apiKey: {name: 'GH_TOKEN', inject: [{domain: 'api.github.com'}]}}],
  setup: {
    install: [{command: 'apt-get install -y jq'}],
    startup: [{command: ['sh', '-c', 'echo hi'], user: '1000'}],
    files: [{path: '/home/agent/.bashrc', content: 'x'}, {path: '/etc/profile.d/kit.sh', content: 'y'}],
  },
})

describe('trust: permission surface', () => {
  it('is a normalised, sorted projection of what a kit grants', () => {
    const s = permissionSurface(base, ['home/agent', 'home/agent/.config', 'workspace', 'workspace/.editorconfig'])
    assert.deepEqual(s.network.allow, ['*.cdn.example.com', 'api.example.com', 'files.example.com:8443'])
    assert.deepEqual(s.network.deny, ['evil.example.com'])
    assert.deepEqual(s.credentials, [{service: 'gh', inject: ['api.github.com'], oauthHosts: []}])
    assert.equal(s.privileged, false)
    assert.equal(s.install.length, 1)
    assert.match(s.install[0]!.digest, /^sha256:[0-9a-f]{64}$/)
    assert.equal(s.install[0]!.user, 'root')
    assert.equal(s.startup[0]!.user, '1000')
    assert.deepEqual(s.files, ['/etc/profile.d/kit.sh', 'workspace/.editorconfig'])
    // Same content, other order: the same surface.
    const shuffled = spec({...base, permissions: {network: {allow: ['*.cdn.example.com', 'files.example.com:8443', 'api.example.com'], deny: ['evil.example.com']}}})
    assert.deepEqual(permissionSurface(shuffled, ['workspace/.editorconfig']), s)
    assert.deepEqual(parseSurface(JSON.parse(JSON.stringify(s)), 'x'), s)
    assert.throws(() => parseSurface({network: {}}, 'kits.lock.json'), /malformed/)
  })

  it('reports each widening and lets narrower or equal surfaces pass', () => {
    const old = permissionSurface(base)
    assert.deepEqual(surfaceWidening(old, old), [])
    const wider = permissionSurface(spec({
      permissions: {network: {allow: ['api.example.com', 'files.example.com:8443', '*.cdn.example.com', 'upload.example.com'], deny: []}},
      credentials: [
        {service: 'gh', apiKey: {name: 'GH_TOKEN', inject: [{domain: 'api.github.com'}, {domain: 'uploads.github.com'}]}},
        {service: 'npm', apiKey: {name: 'NPM_TOKEN', inject: [{domain: 'registry.npmjs.org'}]}},
      ],
      security: {privileged: true},
      setup: {...base.setup, install: [{command: 'apt-get install -y jq'}, {command: 'curl -fsSL https://example.com/x | sh'}]},
    }))
    const kinds = surfaceWidening(old, wider).map((w) => w.kind).sort()
    assert.deepEqual(kinds, ['credential', 'inject-domain', 'install', 'network-allow', 'network-deny-removed', 'privileged'])
    const messages = surfaceWidening(old, wider).map((w) => w.message).join('\n')
    assert.match(messages, /new network allow upload\.example\.com/)
    assert.match(messages, /removed network deny evil\.example\.com/)
    assert.match(messages, /credential gh newly injected into uploads\.github\.com/)
    assert.match(messages, /new install command sha256:.* as root: curl -fsSL/)
    // Narrower: an allow dropped, an allow covered by an existing wildcard, a deny added.
    const narrower = permissionSurface(spec({
      permissions: {network: {allow: ['api.example.com', 'img.cdn.example.com'], deny: ['evil.example.com', 'more.example.com']}},
      credentials: [{service: 'gh', apiKey: {name: 'GH_TOKEN', inject: [{domain: 'api.github.com'}]}}],
      setup: {install: [{command: 'apt-get install -y jq'}], startup: base.setup!.startup, files: base.setup!.files},
    }))
    assert.deepEqual(surfaceWidening(old, narrower), [])
    // A method-restricted rule is covered by an unrestricted one, not the other way round.
    const l7 = permissionSurface(spec({permissions: {network: {allow: ['GET api.example.com/v1/**']}}}))
    const any = permissionSurface(spec({permissions: {network: {allow: ['api.example.com']}}}))
    assert.deepEqual(surfaceWidening(any, l7), [])
    assert.equal(surfaceWidening(l7, any).length, 1)
  })
})

describe('trust: provenance helpers', () => {
  it('never records credentials of a git remote', async () => {
    const {withoutCredentials} = await import('../../kit-compiler/trust/provenance.js')
    assert.equal(withoutCredentials('https://ci:ghp_secret@github.com/org/kits.git'), 'https://github.com/org/kits.git')
    assert.equal(withoutCredentials('git@github.com:org/kits.git'), 'git@github.com:org/kits.git')
    assert.equal(withoutCredentials('not a url with token abc'), undefined)
  })
})
