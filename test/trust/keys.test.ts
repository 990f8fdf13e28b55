// Keys and bundles without a registry: key files, passphrases, bundle parsing and verification.
import assert from 'node:assert/strict'
import {generateKeyPairSync} from 'node:crypto'
import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {
  BUNDLE_MEDIA_TYPE,
  COSIGN_SIGN_PREDICATE,
  generateKeyPair,
  KeyError,
  keyHint,
  keyId,
  MAX_BUNDLE_BYTES,
  parseBundle,
  readPrivateKey,
  readPublicKey,
  signStatement,
  statementFor,
  verifyBundle,
  writeKeyPair,
} from '../../registry-client/sign/index.js'

const DIGEST = 'sha256:' + 'ab'.repeat(32)

describe('trust: keys and bundles', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kit-trust-keys-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('writes an encrypted PKCS#8 P-256 key (0600) and a public key, read back with the passphrase only', async () => {
    const name = join(dir, 'ci')
    const pair = generateKeyPair('correct horse')
    await writeKeyPair(name, pair)
    const pem = await readFile(`${name}.key`, 'utf8')
    assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/)
    assert.ok(!pem.includes('correct horse'))
    assert.equal((await stat(`${name}.key`)).mode & 0o777, 0o600)
    const priv = await readPrivateKey(`${name}.key`, 'correct horse')
    const pub = await readPublicKey(`${name}.pub`)
    assert.equal(keyId(priv), keyId(pub))
    assert.equal(keyId(pub), pair.keyId)
    await assert.rejects(readPrivateKey(`${name}.key`, 'guess-7f3a'), (e: Error) => e instanceof KeyError && /wrong passphrase/.test(e.message) && !e.message.includes('guess-7f3a'))
    await assert.rejects(writeKeyPair(name, pair), /already exists/)
  })

  it('calls every wrong passphrase a wrong passphrase (also the ~1 in 256 that decrypts to undecodable bytes)', async function () {
    this.timeout(120_000)
    const name = join(dir, 'many')
    await writeKeyPair(name, generateKeyPair('correct horse'))
    for (let i = 0; i < 1500; i++) {
      await assert.rejects(readPrivateKey(`${name}.key`, `guess-${i}`), (e: Error) => e instanceof KeyError && /wrong passphrase/.test(e.message))
    }
  })

  it('refuses an empty passphrase, a public key used for signing, and a key of another curve', async () => {
    assert.throws(() => generateKeyPair(''), /empty passphrase/)
    const name = join(dir, 'p')
    await writeKeyPair(name, generateKeyPair('x'))
    await assert.rejects(readPrivateKey(`${name}.pub`, 'x'), /is a public key/)
    await assert.rejects(readPublicKey(`${name}.key`), /is a private key/)
    const rsa = generateKeyPairSync('rsa', {modulusLength: 2048}).publicKey.export({type: 'spki', format: 'pem'}) as string
    await writeFile(join(dir, 'rsa.pub'), rsa)
    await assert.rejects(readPublicKey(join(dir, 'rsa.pub')), /kit signs with ECDSA P-256/)
    await assert.rejects(readPublicKey(join(dir, 'missing.pub')), /no such key file/)
  })

  it('a DSSE bundle verifies with its key only, and names the digest it signs', async () => {
    const a = generateKeyPairSync('ec', {namedCurve: 'P-256'})
    const b = generateKeyPairSync('ec', {namedCurve: 'P-256'})
    const bytes = signStatement(statementFor('reg/x', DIGEST, COSIGN_SIGN_PREDICATE, {}), a.privateKey)
    const json = JSON.parse(bytes.toString())
    assert.equal(json.mediaType, BUNDLE_MEDIA_TYPE)
    assert.equal(json.dsseEnvelope.payloadType, 'application/vnd.in-toto+json')
    assert.equal(json.verificationMaterial.publicKey.hint, keyHint(a.publicKey))
    const bundle = parseBundle(bytes, 'test')
    const ok = verifyBundle(bundle, [{name: 'b', key: b.publicKey}, {name: 'a', key: a.publicKey}], 'test')
    assert.equal(ok?.signer.name, 'a')
    assert.deepEqual(ok?.statement?.subject, [{name: 'reg/x', digest: {sha256: 'ab'.repeat(32)}}])
    assert.equal(verifyBundle(bundle, [{name: 'b', key: b.publicKey}], 'test'), undefined)
    // A payload changed after signing does not verify.
    const tampered = JSON.parse(bytes.toString())
    tampered.dsseEnvelope.payload = Buffer.from(JSON.stringify(statementFor('reg/x', 'sha256:' + 'cd'.repeat(32), COSIGN_SIGN_PREDICATE, {}))).toString('base64')
    assert.equal(verifyBundle(parseBundle(Buffer.from(JSON.stringify(tampered)), 't'), [{name: 'a', key: a.publicKey}], 't'), undefined)
  })

  it('refuses huge, non-JSON, wrong-version and malformed bundles with one-line reasons', () => {
    assert.throws(() => parseBundle(Buffer.alloc(MAX_BUNDLE_BYTES + 1, 0x20), 'w'), /limit 1048576/)
    assert.throws(() => parseBundle(Buffer.from('not json'), 'w'), /w: the bundle is not JSON/)
    assert.throws(() => parseBundle(Buffer.from('{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1"}'), 'w'), /not application\/vnd.dev.sigstore.bundle.v0.3\+json/)
    assert.throws(() => parseBundle(Buffer.from(JSON.stringify({mediaType: BUNDLE_MEDIA_TYPE})), 'w'), (e: Error) => /malformed bundle/.test(e.message) && !e.message.includes('\n'))
    assert.throws(() => parseBundle(Buffer.from('[]'), 'w'), /not a JSON object/)
  })
})
