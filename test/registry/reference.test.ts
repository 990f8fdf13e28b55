import assert from 'node:assert/strict'
import {isLoopbackHost, parseReference} from '../../registry-client/index.js'

describe('registry-client: references', () => {
  const cases: Array<[string, [string, string, string?, string?, string?]]> = [
    ['registry.example.com/team/my-mixin:1.4.2', ['registry.example.com', 'team/my-mixin', '1.4.2']],
    ['localhost:5000/x', ['localhost:5000', 'x']],
    ['127.0.0.1:5001/a/b/c:Latest', ['127.0.0.1:5001', 'a/b/c', 'Latest']],
    ['docker.io/alpine:3.19', ['docker.io', 'library/alpine', '3.19']],
    ['index.docker.io/library/alpine', ['docker.io', 'library/alpine']],
    ['registry-1.docker.io/bitnami/redis:7', ['docker.io', 'bitnami/redis', '7']],
    [`r.example/x@sha256:${'a'.repeat(64)}`, ['r.example', 'x', undefined, `sha256:${'a'.repeat(64)}`]],
    ['r.example/x@^1.4', ['r.example', 'x', undefined, undefined, '^1.4']],
    ['r.example/x@>=1 <2', ['r.example', 'x', undefined, undefined, '>=1 <2']],
    ['[::1]:5000/x:v1', ['[::1]:5000', 'x', 'v1']],
  ]
  for (const [input, [registry, repository, tag, digest, range]] of cases) {
    it(`parses ${input}`, () => {
      const r = parseReference(input)
      assert.deepEqual([r.registry, r.repository, r.tag, r.digest, r.range], [registry, repository, tag, digest, range])
    })
  }

  it('keeps tags case-sensitive and refuses upper-case repositories', () => {
    assert.equal(parseReference('r.example/x:V1.0-RC').tag, 'V1.0-RC')
    assert.throws(() => parseReference('r.example/Team/x'), {code: 'INVALID_REFERENCE', message: /must be lower case/})
  })

  it('uses Docker Hub API host and names without a registry only with a default', () => {
    assert.equal(parseReference('docker.io/alpine').apiHost, 'registry-1.docker.io')
    assert.throws(() => parseReference('alpine:3'), /no registry/)
    assert.equal(parseReference('alpine:3', {defaultRegistry: 'docker.io'}).toString(), 'docker.io/library/alpine:3')
  })

  it('refuses malformed input with the reason', () => {
    assert.throws(() => parseReference('r.example/x@sha256:abc'), /invalid digest/)
    assert.throws(() => parseReference('r.example/x:bad tag'), /invalid tag/)
    assert.throws(() => parseReference('r.example/x:1@^1'), /tag and a version range/)
    assert.throws(() => parseReference('r.example/a//b'), /path component/)
    assert.throws(() => parseReference(''), /empty/)
  })

  it('knows loopback hosts', () => {
    assert.equal(isLoopbackHost('localhost:5000'), true)
    assert.equal(isLoopbackHost('127.0.0.1:1'), true)
    assert.equal(isLoopbackHost('[::1]:5000'), true)
    assert.equal(isLoopbackHost('registry.example.com'), false)
  })
})
