// Signing and verifying in the local OCI layout store (a Target with referrers), including the
// message-signature form other tools write, and a signature lifted onto another manifest.
import assert from 'node:assert/strict'
import {createHash, generateKeyPairSync, sign} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {bundleToJSON, toMessageSignatureBundle} from '@sigstore/bundle'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {attachBundle, keyHint, keyId, signManifest, verifyManifest} from '../../registry-client/sign/index.js'
import {pushArtifact} from '../registry/helpers.js'

describe('trust: signatures in the local store', () => {
  let dir: string
  let store: OciLayoutStore
  const a = generateKeyPairSync('ec', {namedCurve: 'P-256'})
  const keys = [{name: 'a', key: a.publicKey}]

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kit-trust-store-'))
    store = await OciLayoutStore.open(dir)
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('signs and verifies a manifest in the store; the referrer is listed in index.json', async () => {
    const art = await pushArtifact(store, 'one')
    await store.tag(art.manifest, 'one:1')
    await assert.rejects(verifyManifest(store, art.manifest, keys, {reference: 'one:1'}), /one:1@sha256:[0-9a-f]{64}: no signature is attached/)
    const signed = await signManifest(store, art.manifest, a.privateKey, {name: 'one'})
    assert.equal(signed.keyId, keyId(a.publicKey))
    const v = await verifyManifest(store, art.manifest, keys, {reference: 'one:1'})
    assert.equal(v.verified[0]!.referrer.digest, signed.referrer.digest)
    assert.ok((await store.referrers(art.manifest)).some((d) => d.digest === signed.referrer.digest))
  })

  it('verifies a message-signature bundle over the manifest bytes, and refuses one over other bytes', async () => {
    const art = await pushArtifact(store, 'two')
    const other = await pushArtifact(store, 'three')
    const messageBundle = (bytes: Buffer) =>
      Buffer.from(JSON.stringify(bundleToJSON(toMessageSignatureBundle({
        digest: createHash('sha256').update(bytes).digest(),
        signature: sign('sha256', bytes, a.privateKey),
        keyHint: keyHint(a.publicKey),
      }))))
    await attachBundle(store, other.manifest, messageBundle(art.bytes), {content: 'message-signature'})
    await assert.rejects(verifyManifest(store, other.manifest, keys, {reference: 'three', subjectBytes: other.bytes}), /message digest in the bundle is not the digest of the signed manifest/)
    await attachBundle(store, art.manifest, messageBundle(art.bytes), {content: 'message-signature'})
    const v = await verifyManifest(store, art.manifest, keys, {reference: 'two', subjectBytes: art.bytes})
    assert.equal(v.verified[0]!.content, 'message-signature')
  })
})
