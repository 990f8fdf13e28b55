// SPEC-v3 §5.3 resolution (pure): closed set, conflicts, integrates, dependency order, one
// workload, one provider per name; names and versions of §5.1/§5.2.
import assert from 'node:assert/strict'
import {compareVersions, normalizeName, parseRequirement, satisfies} from '../../kit-compiler/v3/names.js'
import {referenceVersion, resolveKits, type ResolveInput} from '../../kit-compiler/v3/resolve.js'

const kit = (ref: string, kind: string, d: Partial<ResolveInput['descriptor']> = {}): ResolveInput => ({ref, descriptor: {kind, ...d}})
const shell = kit('shell:1.0.0', 'workload', {provides: ['node@20.11.0', 'deb/bash@5.2.15']})

describe('v3 names and versions (§5.1, §5.2)', () => {
  it('bare names live in com.docker.kit; namespaces are reverse-DNS; deb/ only where derived', () => {
    assert.equal(normalizeName('gh'), 'com.docker.kit/gh')
    assert.equal(normalizeName('com.example/gh'), 'com.example/gh')
    assert.equal(normalizeName('libstdc++6'), 'com.docker.kit/libstdc++6')
    assert.throws(() => normalizeName('example/gh'), /reverse-DNS/)
    assert.throws(() => normalizeName('com..example/gh'), /reverse-DNS/)
    assert.throws(() => normalizeName('deb/bash'), /reserved/)
    assert.equal(normalizeName('deb/bash', {allowDerived: true}), 'deb/bash')
    assert.throws(() => normalizeName('gh-'), /not a capability name/)
  })
  it('compares per segment, numerically where numeric; an unversioned provide meets only an unconstrained require', () => {
    assert.equal(compareVersions('1.10.0', '1.9.9'), 1)
    assert.equal(compareVersions('2.0', '2.0.0'), -1)
    assert.equal(compareVersions('1.0.rc2', '1.0.rc10'), 1)
    const r = parseRequirement('node >= 20.0.0, < 21.0.0')
    assert.ok(satisfies({name: 'com.docker.kit/node', version: '20.11.0'}, r))
    assert.ok(!satisfies({name: 'com.docker.kit/node', version: '21.0.0'}, r))
    assert.ok(!satisfies({name: 'com.docker.kit/node'}, r))
    assert.ok(satisfies({name: 'com.docker.kit/node'}, parseRequirement('node')))
    assert.throws(() => parseRequirement('node >= 21, < 20'), /can never be met/)
    assert.throws(() => parseRequirement('node > 20, <= 20'), /can never be met/)
    assert.throws(() => parseRequirement('node = 1.0, = 2.0'), /can never be met/)
  })
  it('a version-shaped tag is a version; others are not', () => {
    assert.equal(referenceVersion('docker.io/docker/gh:2.98.0'), '2.98.0')
    assert.equal(referenceVersion('localhost:5000/gh:latest'), undefined)
    assert.equal(referenceVersion('localhost:5000/gh'), undefined)
  })
})

describe('v3 resolution (§5.3)', () => {
  it('orders by the dependency graph, never by input order: workload, then providers before requirers', () => {
    const acp = kit('acp:0.84.0', 'mixin', {requires: ['claude'], provides: ['acp@0.84.0']})
    const claude = kit('claude-mixin:2.1.0', 'mixin', {provides: ['claude@2.1.0'], requires: ['node >= 20']})
    for (const input of [[acp, claude, shell], [shell, acp, claude], [claude, shell, acp]]) {
      assert.deepEqual(resolveKits(input).order.map((k) => k.ref), ['shell:1.0.0', 'claude-mixin:2.1.0', 'acp:0.84.0'])
    }
  })
  it('a met integrates orders like requires; an absent provider is fine; a violating present one fails', () => {
    const docker = kit('docker:25.0.1', 'mixin', {provides: ['docker-engine']})
    const compose = kit('a-compose:1', 'mixin', {integrates: ['docker-engine >= 25.0.0']})
    assert.deepEqual(resolveKits([compose, docker, shell]).order.map((k) => k.ref), ['shell:1.0.0', 'docker:25.0.1', 'a-compose:1'])
    assert.deepEqual(resolveKits([compose, shell]).order.map((k) => k.ref), ['shell:1.0.0', 'a-compose:1'])
    const old = kit('docker:24.0.0', 'mixin', {provides: ['docker-engine']})
    assert.throws(() => resolveKits([compose, old, shell]), /a-compose:1 integrates with docker-engine >= 25\.0\.0, and docker:24\.0\.0 provides docker-engine@24\.0\.0/)
  })
  it('the closed set: an unmet or unsatisfied requirement fails naming the kits', () => {
    assert.throws(() => resolveKits([shell, kit('gh:1', 'mixin', {requires: ['git']})]), /gh:1 requires git, which no other kit of the set provides/)
    assert.throws(() => resolveKits([shell, kit('x:1', 'mixin', {requires: ['node >= 22']})]), /x:1 requires node >= 22, but shell:1\.0\.0 provides node@20\.11\.0/)
    assert.throws(() => resolveKits([shell, kit('x:1', 'mixin', {requires: ['x'], provides: ['x@1']})]), /x:1 requires x, which no other kit/)
  })
  it('the version of a provide: its own, else a version-shaped tag, else the version: fallback', () => {
    const tagged = kit('tool:3.1.0', 'mixin', {provides: ['tool'], version: '1.0.0'})
    assert.equal(resolveKits([shell, tagged]).providers['com.docker.kit/tool']!.version, '3.1.0')
    const untagged = kit('tool:latest', 'mixin', {provides: ['tool'], version: '1.0.0'})
    assert.equal(resolveKits([shell, untagged]).providers['com.docker.kit/tool']!.version, '1.0.0')
  })
  it('conflicts fail when the set provides the name', () => {
    assert.throws(() => resolveKits([shell, kit('docker:1', 'mixin', {conflicts: ['node']})]), /docker:1 conflicts with node, which shell:1\.0\.0 provides/)
  })
  it('exactly one workload (a set being published may have none); one provider per name', () => {
    assert.throws(() => resolveKits([shell, kit('claude:2', 'workload')]), /exactly one workload; shell:1\.0\.0 and claude:2 are both workloads/)
    assert.throws(() => resolveKits([kit('a:1', 'mixin')]), /needs exactly one workload/)
    assert.equal(resolveKits([kit('a:1', 'mixin')], {workloads: 'at-most-one'}).order.length, 1)
    assert.throws(() => resolveKits([kit('claude:2', 'workload', {provides: ['claude@2.1.0']}), kit('claude-mixin:2', 'mixin', {provides: ['claude@2.1.0']})]),
      /claude is provided by both claude:2 and claude-mixin:2/)
  })
  it('a cycle has no order', () => {
    assert.throws(() => resolveKits([shell, kit('a:1', 'mixin', {provides: ['a'], requires: ['b']}), kit('b:1', 'mixin', {provides: ['b'], requires: ['a']})]), /cycle/)
  })
})
