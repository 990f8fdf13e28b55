import assert from 'node:assert/strict'
import {checkAllowedSource, isAllowedSource, parseReference, publishTags, resolveRange, tagForVersion, versionOfTag} from '../../registry-client/index.js'

describe('registry-client: semver tags', () => {
  it('moves x.y, x and latest for a first stable version', () => {
    assert.deepEqual(publishTags('1.2.3', []), {exact: '1.2.3', moving: ['1.2', '1', 'latest']})
  })

  it('only moves forward', () => {
    const existing = ['1.2.3', '1.2', '1', 'latest', '2.0.0', '2.0', '2']
    assert.deepEqual(publishTags('1.2.4', existing).moving, ['1.2', '1'])
    assert.deepEqual(publishTags('1.2.2', existing).moving, [])
    assert.deepEqual(publishTags('1.1.9', existing).moving, ['1.1'])
    assert.deepEqual(publishTags('2.1.0', existing).moving, ['2.1', '2', 'latest'])
    assert.deepEqual(publishTags('1.2.3', existing).moving, ['1.2', '1'], 're-publishing the newest keeps its aliases')
  })

  it('moves nothing for prereleases, and ignores prereleases when deciding', () => {
    assert.deepEqual(publishTags('2.0.0-rc.1', ['1.0.0']), {exact: '2.0.0-rc.1', moving: []})
    assert.deepEqual(publishTags('1.0.1', ['1.0.0', '3.0.0-beta.1']).moving, ['1.0', '1', 'latest'])
  })

  it('writes +build as _build in the tag', () => {
    assert.equal(tagForVersion('1.2.3+build.5'), '1.2.3_build.5')
    assert.equal(versionOfTag('1.2.3_build.5'), '1.2.3+build.5')
    assert.deepEqual(publishTags('1.2.3+build.5', ['1.2.2']), {exact: '1.2.3_build.5', moving: ['1.2', '1', 'latest']})
    assert.equal(versionOfTag('1.2'), undefined)
    assert.equal(versionOfTag('latest'), undefined)
    assert.equal(versionOfTag('v1.2.3'), undefined)
  })

  it('resolves ranges against the tag list', () => {
    const tags = ['1.0.0', '1.2.0', '1.2.7', '1.3.0', '1.3', '1', '2.0.0', '2.1.0-rc.1', 'latest', '1.4.0_b2', 'garbage']
    assert.deepEqual(resolveRange('^1.2', tags), {tag: '1.4.0_b2', version: '1.4.0+b2'})
    assert.deepEqual(resolveRange('~1.2.3', tags), {tag: '1.2.7', version: '1.2.7'})
    assert.deepEqual(resolveRange('>=1 <1.3', tags), {tag: '1.2.7', version: '1.2.7'})
    assert.deepEqual(resolveRange('>=2', tags), {tag: '2.0.0', version: '2.0.0'})
    assert.equal(resolveRange('^3', tags), undefined)
    assert.throws(() => resolveRange('not a range!', tags), {code: 'INVALID_VERSION'})
  })
})

describe('registry-client: allowed sources', () => {
  const allowed = ['registry.example.com/team', 'ghcr.io', 'docker.io/library']
  const ok = (s: string) => isAllowedSource(parseReference(s), allowed)
  it('matches on path-segment boundaries', () => {
    assert.equal(ok('registry.example.com/team/x:1'), true)
    assert.equal(ok('registry.example.com/team/sub/x'), true)
    assert.equal(ok('registry.example.com/team-evil/x'), false)
    assert.equal(ok('registry.example.com/teamx'), false)
    assert.equal(ok('registry.example.com.evil/team/x'), false)
    assert.equal(ok('ghcr.io/anyone/x'), true)
    assert.equal(ok('docker.io/alpine'), true)
    assert.equal(ok('index.docker.io/bitnami/redis'), false)
  })
  it('allows anything without a list, and names the setting when refusing', () => {
    assert.equal(isAllowedSource(parseReference('a.example/x'), []), true)
    assert.throws(() => checkAllowedSource(parseReference('evil.example/x:1'), allowed), {
      code: 'SOURCE_NOT_ALLOWED',
      message: /evil\.example\/x:1 is not from an allowed source \(kit\.allowedSources: /,
    })
  })
})
