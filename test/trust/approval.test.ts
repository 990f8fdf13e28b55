// The lockfile's approval hook on its own: first lock, same digest, widening refused or approved
// (flag or interactive yes), narrowing passes, and a malformed recorded surface is an error.
import assert from 'node:assert/strict'
import type {KitSpec} from '../../kit-compiler/model.js'
import {permissionSurface, type PermissionSurface} from '../../kit-compiler/trust/surface.js'
import type {LockEntry} from '../../registry-client/lockfile.js'
import {ApprovalRequiredError, surfaceEntry} from '../../runtime/trust/approval.js'

const D1 = 'r.example/team/k@sha256:' + '1'.repeat(64)
const D2 = 'r.example/team/k@sha256:' + '2'.repeat(64)
const entry = (resolved: string): LockEntry => ({version: '1.0.0', resolved, integrity: 'x'})
const surface = (allow: string[], install: string[] = []): PermissionSurface =>
  permissionSurface({schemaVersion: '2', kind: 'mixin', name: 'k', permissions: {network: {allow}}, setup: {install: install.map((command) => ({command}))}} as KitSpec)

describe('trust: lockfile approval of wider permissions', () => {
  const surfaces = new Map<string, PermissionSurface>([
    [D1, surface(['api.example.com'])],
    [D2, surface(['api.example.com', 'upload.example.com'], ['make install'])],
  ])
  const surfaceOf = async (r: string) => surfaces.get(r)

  it('records the surface on first lock and keeps an unchanged entry', async () => {
    const hook = surfaceEntry({approve: false, surfaceOf})
    const first = await hook('k@^1', entry(D1), undefined)
    assert.deepEqual(first.surface, surfaces.get(D1))
    const again = await hook('k@^1', entry(D1), first)
    assert.deepEqual(again, first)
  })

  it('refuses a widening unless approved by flag or an interactive yes, and records what was approved', async () => {
    const previous = {...entry(D1), surface: surfaces.get(D1)}
    await assert.rejects(surfaceEntry({approve: false, surfaceOf})('k@^1', entry(D2), previous), (e: Error) => {
      assert.ok(e instanceof ApprovalRequiredError)
      assert.match(e.message, /^k@\^1: sha256:1111111111.* → sha256:2222222222.* widens its permissions: new network allow upload\.example\.com; new install command sha256:.* as root: make install/)
      return true
    })
    const asked: string[] = []
    await assert.rejects(surfaceEntry({approve: false, surfaceOf, confirm: async (p) => (asked.push(p.reference), false)})('k@^1', entry(D2), previous), ApprovalRequiredError)
    assert.deepEqual(asked, ['k@^1'])
    const yes = await surfaceEntry({approve: false, surfaceOf, confirm: async () => true})('k@^1', entry(D2), previous)
    assert.deepEqual((yes.approval as {from: string}).from, D1)
    const approved = await surfaceEntry({approve: true, surfaceOf})('k@^1', entry(D2), previous)
    assert.deepEqual((approved.approval as {widened: string[]}).widened.length, 2)
    assert.deepEqual(approved.surface, surfaces.get(D2))
  })

  it('lets a narrower surface pass, and refuses a malformed recorded one', async () => {
    const previous = {...entry(D2), surface: surfaces.get(D2)}
    const narrowed = await surfaceEntry({approve: false, surfaceOf})('k@^1', entry(D1), previous)
    assert.equal(narrowed.approval, undefined)
    await assert.rejects(surfaceEntry({approve: false, surfaceOf})('k@^1', entry(D2), {...entry(D1), surface: {network: 'everything'}}), /lockfile entry k@\^1: the recorded permission surface is malformed/)
  })
})
