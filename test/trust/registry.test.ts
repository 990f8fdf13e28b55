// Signing, provenance, verification and the signature policy against a real CNCF distribution
// registry (2.8: no referrers API, so every referrer goes through the tag-schema fallback).
import assert from 'node:assert/strict'
import {runKit} from '../support/cli.js'
import {execFile, spawn} from 'node:child_process'
import {cp, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'
import {promisify} from 'node:util'
import {buildKit} from '../../kit-compiler/build.js'
import {copy} from '../../registry-client/copy.js'
import {type Descriptor, MediaType, sha256} from '../../registry-client/descriptor.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {push} from '../../registry-client/publish.js'
import {referrersTag, RemoteRepository} from '../../registry-client/remote.js'
import {parseReference} from '../../registry-client/reference.js'
import {BUNDLE_MEDIA_TYPE, readPrivateKey, signManifest, verifyManifest, readPublicKey} from '../../registry-client/sign/index.js'
import {pullLockedWithPolicy, pullWithPolicy} from '../../runtime/trust/pull.js'
import {enforceLaunchPolicy} from '../../runtime/trust/launch.js'
import {lockWithApproval} from '../../runtime/trust/approval.js'
import type {SignaturePolicy} from '../../runtime/trust/settings.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'

const run = promisify(execFile)
const KIT = resolve('bin/kit')
const SAMPLE = resolve('sample-kits')
const PASSWORD = 'test-passphrase-4d1c'

interface Result {
  code: number
  stdout: string
  stderr: string
  json: any // eslint-disable-line @typescript-eslint/no-explicit-any
}

const kit = (args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<Result> => runKit(args, {env, input, cwd: process.cwd()})

/** A kit directory: the github sample with a different name/version and extra YAML. */
async function kitDir(parent: string, name: string, version: string, extra = ''): Promise<string> {
  const dir = join(parent, `${name}-${version}`)
  await cp(join(SAMPLE, 'github'), dir, {recursive: true})
  const spec = (await readFile(join(dir, 'spec.yaml'), 'utf8')).replace(/^name: .*$/m, `name: ${name}`).replace(/^version: .*$/m, `version: "${version}"`)
  await writeFile(join(dir, 'spec.yaml'), spec + extra)
  return dir
}

function blobPath(registry: TestRegistry, digest: string): string {
  const hex = digest.slice('sha256:'.length)
  return join(registry.root, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data')
}

describe('trust: sign, verify and require signatures against a registry without the referrers API', function () {
  this.timeout(120_000)
  let registry: TestRegistry
  let dir: string
  let env: NodeJS.ProcessEnv
  let store: OciLayoutStore
  let keyName: string
  let otherKey: string
  let gh: {reference: string; digest: string; descriptor: Descriptor}
  let policy: SignaturePolicy

  before(async () => {
    registry = await startRegistry()
    dir = await mkdtemp(join(tmpdir(), 'kit-trust-'))
    env = {PATH: process.env.PATH, HOME: dir, KIT_HOME: join(dir, 'home'), KIT_ORG_CONFIG: join(dir, 'org.json'), DOCKER_CONFIG: join(dir, 'docker'), CI: '1'}
    store = await OciLayoutStore.open(join(dir, 'publisher-store'))
    keyName = join(dir, 'ci-signing')
    otherKey = join(dir, 'other')
    const gen = await kit(['key', 'generate', '--output', keyName, '--json'], {...env, KIT_KEY_PASSWORD: PASSWORD})
    assert.equal(gen.code, 0, gen.stderr)
    assert.match(gen.json.keyId, /^sha256:[0-9a-f]{64}$/)
    // The passphrase may come on stdin instead.
    const gen2 = await kit(['key', 'generate', '--output', otherKey], env, 'another-passphrase\n')
    assert.equal(gen2.code, 0, gen2.stderr)
    const built = await buildKit(await kitDir(dir, 'gh', '1.0.0'), {store})
    const pushed = await push(store, built.reference, `${registry.host}/team/gh:1.0.0`, {plainHttp: true})
    gh = {reference: `${registry.host}/team/gh:1.0.0`, digest: pushed.digest, descriptor: {mediaType: pushed.mediaType, digest: pushed.digest, size: pushed.size}}
    policy = {requireSignature: true, trustedSigners: [{key: `${keyName}.pub`}]}
  })

  after(async () => {
    await registry?.stop()
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  it('kit sign signs the digest and attaches a Sigstore bundle referrer through the tag-schema fallback', async () => {
    const signed = await kit(['sign', gh.reference, '--key', `${keyName}.key`, '--plain-http', '--json'], {...env, KIT_KEY_PASSWORD: PASSWORD})
    assert.equal(signed.code, 0, signed.stderr)
    assert.equal(signed.json.digest, gh.digest)
    // distribution 2.8 has no referrers API: the sha256-<hex> index lists the referrer.
    const api = await fetch(`${registry.url}/v2/team/gh/referrers/${gh.digest}`)
    assert.equal(api.status, 404)
    const repo = new RemoteRepository(parseReference(`${registry.host}/team/gh`), {plainHttp: true})
    const index = await repo.resolve(referrersTag(gh.digest))
    assert.equal(index.mediaType, MediaType.OciIndex)
    const referrers = await repo.referrers(gh.descriptor)
    const sig = referrers.find((r) => r.digest === signed.json.signature.referrer)
    assert.equal(sig?.artifactType, BUNDLE_MEDIA_TYPE)
    const m = JSON.parse((await (await fetch(`${registry.url}/v2/team/gh/manifests/${sig!.digest}`, {headers: {accept: MediaType.OciManifest}})).text()))
    assert.equal(m.artifactType, BUNDLE_MEDIA_TYPE)
    assert.equal(m.subject.digest, gh.digest)
    assert.equal(m.config.mediaType, MediaType.OciEmpty)
    assert.equal(m.layers[0].mediaType, BUNDLE_MEDIA_TYPE)
    assert.equal(m.annotations['dev.sigstore.bundle.content'], 'dsse-envelope')
    assert.equal(m.annotations['dev.sigstore.bundle.predicateType'], 'https://sigstore.dev/cosign/sign/v1')
    const bundle = JSON.parse(await readFile(blobPath(registry, m.layers[0].digest), 'utf8'))
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString())
    assert.deepEqual(statement.subject[0].digest, {sha256: gh.digest.slice(7)})
    assert.ok(!JSON.stringify(bundle).includes(PASSWORD))
  })

  it('kit verify exits 0 only for a valid signature by that key', async () => {
    const ok = await kit(['verify', gh.reference, '--key', `${keyName}.pub`, '--plain-http', '--json'], env)
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal(ok.json.verified, true)
    assert.equal(ok.json.digest, gh.digest)
    const other = await kit(['verify', gh.reference, '--key', `${otherKey}.pub`, '--plain-http'], env)
    assert.equal(other.code, 1)
    assert.match(other.stderr, /^kit: .*team\/gh:1\.0\.0@sha256:[0-9a-f]{64}: no valid signature by a trusted key .*not trusted/)
    assert.equal(other.stderr.trim().split('\n').length, 1)
    const byDigest = await kit(['verify', `${registry.host}/team/gh@${gh.digest}`, '--key', `${otherKey}.pub`, '--key', `${keyName}.pub`, '--plain-http'], env)
    assert.equal(byDigest.code, 0, byDigest.stderr)
  })

  it('pulls a signed kit elsewhere under kit.requireSignature, with its signature, and launches it from the store', async () => {
    const consumer = await OciLayoutStore.open(join(dir, 'consumer-a'))
    const r = await pullWithPolicy(gh.reference, consumer, {plainHttp: true, policy})
    assert.equal(r.digest, gh.digest)
    const keys = [{name: 'ci', key: await readPublicKey(`${keyName}.pub`)}]
    const local = await verifyManifest(consumer, gh.descriptor, keys, {reference: 'local'})
    assert.equal(local.verified.length, 1)
    await enforceLaunchPolicy(consumer, [{input: gh.reference, source: 'registry', reference: r.storedAs[0], digest: r.digest}], policy)
    await assert.rejects(enforceLaunchPolicy(consumer, [{input: './gh', source: 'dir'}], policy), /refusing \.\/gh .*kit directory carries no signature/)
  })

  it('refuses an unsigned kit on pull and launch, naming the reference, digest and reason, and stores nothing', async () => {
    const built = await buildKit(await kitDir(dir, 'unsigned', '1.0.0'), {store})
    const pushed = await push(store, built.reference, `${registry.host}/team/unsigned:1.0.0`, {plainHttp: true})
    const consumer = await OciLayoutStore.open(join(dir, 'consumer-b'))
    await assert.rejects(pullWithPolicy(`${registry.host}/team/unsigned:1.0.0`, consumer, {plainHttp: true, policy}), (e: Error & {code?: string}) => {
      assert.equal(e.code, 'SIGNATURE_REQUIRED')
      assert.ok(e.message.includes(`${registry.host}/team/unsigned:1.0.0`), e.message)
      assert.ok(e.message.includes(pushed.digest), e.message)
      assert.match(e.message, /no signature is attached/)
      return true
    })
    assert.deepEqual(await consumer.list(), [])
    // Launch from a store that has it (pulled while the policy was off): refused too.
    await pullWithPolicy(`${registry.host}/team/unsigned:1.0.0`, consumer, {plainHttp: true, policy: {...policy, requireSignature: false}})
    await assert.rejects(
      enforceLaunchPolicy(consumer, [{input: 'unsigned', source: 'store', digest: pushed.digest}], policy),
      new RegExp(`refusing unsigned \\(${pushed.digest}\\): no signature is attached`),
    )
    // An expired key is not trusted any more.
    const expired = {requireSignature: true, trustedSigners: [{name: 'ci-2025', key: `${keyName}.pub`, expires: '2025-01-01T00:00:00Z'}]}
    await assert.rejects(pullWithPolicy(gh.reference, consumer, {plainHttp: true, policy: expired}), /every key in kit\.trustedSigners has expired \(ci-2025 expired 2025-01-01T00:00:00Z\)/)
    const rotated = {requireSignature: true, trustedSigners: [...expired.trustedSigners, {key: `${otherKey}.pub`}]}
    await assert.rejects(pullWithPolicy(gh.reference, consumer, {plainHttp: true, policy: rotated}), /not trusted.*; not trusted any more: ci-2025 expired/)
    // An empty trusted signers list is a refusal, not a pass.
    await assert.rejects(pullWithPolicy(gh.reference, consumer, {plainHttp: true, policy: {requireSignature: true, trustedSigners: []}}), /kit\.trustedSigners is empty/)
  })

  it('refuses a signature over another digest, a referrer pointing at itself, a huge and a malformed bundle', async () => {
    const repo = new RemoteRepository(parseReference(`${registry.host}/team/evil`), {plainHttp: true})
    const built = await buildKit(await kitDir(dir, 'evil', '1.0.0'), {store})
    const pushed = await push(store, built.reference, `${registry.host}/team/evil:1.0.0`, {plainHttp: true})
    const subject: Descriptor = {mediaType: pushed.mediaType, digest: pushed.digest, size: pushed.size}
    const key = await readPrivateKey(`${keyName}.key`, PASSWORD)
    const keys = [{name: 'ci', key: await readPublicKey(`${keyName}.pub`)}]
    const verify = () => verifyManifest(repo, subject, keys, {reference: 'evil'})

    // 1. A genuine signature of gh, re-attached to evil (same bundle, new subject).
    const ghRepo = new RemoteRepository(parseReference(`${registry.host}/team/gh`), {plainHttp: true})
    const ghSig = (await ghRepo.referrers(gh.descriptor)).find((r) => r.annotations?.['dev.sigstore.bundle.predicateType'] === 'https://sigstore.dev/cosign/sign/v1')!
    const ghSigManifest = JSON.parse((await readFile(blobPath(registry, ghSig.digest))).toString())
    const bundleBytes = await readFile(blobPath(registry, ghSigManifest.layers[0].digest))
    await attachRaw(repo, subject, bundleBytes)
    await assert.rejects(verify(), new RegExp(`the signature is over ${gh.digest}, not ${pushed.digest}`))

    // 2. A tag-schema index that lists the subject itself as its referrer.
    const selfIndex = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [{...subject, artifactType: BUNDLE_MEDIA_TYPE}]}))
    const selfDesc: Descriptor = {mediaType: MediaType.OciIndex, digest: sha256(selfIndex), size: selfIndex.length}
    const savedIndex = await repo.resolve(referrersTag(subject.digest))
    await repo.pushReference(selfDesc, selfIndex, referrersTag(subject.digest))
    await assert.rejects(verify(), /the referrer points at itself/)
    const consumer = await OciLayoutStore.open(join(dir, 'consumer-c'))
    await assert.rejects(pullWithPolicy(`${registry.host}/team/evil:1.0.0`, consumer, {plainHttp: true, policy}), /points at itself/)
    assert.deepEqual(await consumer.list(), [])
    // Without the policy, a pull with referrers does not follow the self-listing (no endless walk).
    const plain = await pullWithPolicy(`${registry.host}/team/evil:1.0.0`, consumer, {plainHttp: true, policy: {...policy, requireSignature: false}})
    assert.equal(plain.digest, subject.digest)
    await repo.tag(savedIndex, referrersTag(subject.digest))

    // 3. A bundle over 1 MiB, 4. a malformed one: each refused with its reason, one line.
    await attachRaw(repo, subject, Buffer.alloc(1024 * 1024 + 10, 0x20))
    await attachRaw(repo, subject, Buffer.from(JSON.stringify({mediaType: BUNDLE_MEDIA_TYPE, verificationMaterial: {}})))
    await assert.rejects(verify(), (e: Error) => {
      assert.match(e.message, /the bundle is 1048586 bytes \(limit 1048576\)/)
      assert.match(e.message, /malformed bundle/)
      assert.ok(!e.message.includes('\n'))
      return true
    })

    // A real signature alongside them verifies; the bad ones are reported as ignored.
    await signManifest(repo, subject, key, {name: 'evil'})
    const ok = await verify()
    assert.equal(ok.verified.length, 1)
    assert.ok(ok.rejected.length >= 3)
  })

  it('a tampered layer or manifest in the registry storage: pull and verify refuse it', async () => {
    const built = await buildKit(await kitDir(dir, 'tamper', '1.0.0'), {store})
    const pushed = await push(store, built.reference, `${registry.host}/team/tamper:1.0.0`, {plainHttp: true})
    const sign = await kit(['sign', `${registry.host}/team/tamper:1.0.0`, '--key', `${keyName}.key`, '--plain-http'], {...env, KIT_KEY_PASSWORD: PASSWORD})
    assert.equal(sign.code, 0, sign.stderr)
    const layer = built.layer.digest
    const original = await readFile(blobPath(registry, layer))
    const bad = Buffer.from(original)
    bad[bad.length - 5] = bad[bad.length - 5]! ^ 0xff
    await writeFile(blobPath(registry, layer), bad)
    const pulled = await kit(['pull', `${registry.host}/team/tamper:1.0.0`, '--plain-http'], env)
    assert.equal(pulled.code, 1)
    assert.match(pulled.stderr, /digest mismatch|size mismatch/)
    const ls = await kit(['ls', '--json'], env)
    assert.ok(!JSON.stringify(ls.json ?? []).includes('tamper'), ls.stdout)
    const verified = await kit(['verify', `${registry.host}/team/tamper:1.0.0`, '--key', `${keyName}.pub`, '--plain-http'], env)
    assert.equal(verified.code, 1)
    assert.match(verified.stderr, /digest mismatch/)
    await writeFile(blobPath(registry, layer), original)
    // The manifest itself.
    const manifestFile = blobPath(registry, pushed.digest)
    const m = await readFile(manifestFile)
    await writeFile(manifestFile, Buffer.from(m.toString().replace('"tamper"', '"tampre"')))
    const verified2 = await kit(['verify', `${registry.host}/team/tamper@${pushed.digest}`, '--key', `${keyName}.pub`, '--plain-http'], env)
    assert.equal(verified2.code, 1)
    assert.match(verified2.stderr, /digest mismatch|registry answered/)
    await writeFile(manifestFile, m)
  })

  it('provenance: a signed SLSA v1 statement with source digests, the git commit and builder kit', async () => {
    const src = await kitDir(dir, 'prov', '1.0.0')
    await run('git', ['init', '-q', src])
    await run('git', ['-C', src, 'add', '.'])
    await run('git', ['-C', src, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-qm', 'kit'])
    const commit = (await run('git', ['-C', src, 'rev-parse', 'HEAD'])).stdout.trim()
    const built = await buildKit(src, {store})
    await push(store, built.reference, `${registry.host}/team/prov:1.0.0`, {plainHttp: true})
    const signed = await kit(['sign', `${registry.host}/team/prov:1.0.0`, '--key', `${keyName}.key`, '--provenance', src, '--plain-http', '--json'], {...env, KIT_KEY_PASSWORD: PASSWORD})
    assert.equal(signed.code, 0, signed.stderr)
    const v = await kit(['verify', `${registry.host}/team/prov:1.0.0`, '--key', `${keyName}.pub`, '--provenance', '--plain-http', '--json'], env)
    assert.equal(v.code, 0, v.stderr)
    assert.equal(v.json.provenance[0].builder, 'kit')
    const manifest = JSON.parse((await readFile(blobPath(registry, signed.json.provenance.referrer))).toString())
    assert.equal(manifest.annotations['dev.sigstore.bundle.predicateType'], 'https://slsa.dev/provenance/v1')
    const bundle = JSON.parse((await readFile(blobPath(registry, manifest.layers[0].digest))).toString())
    const st = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString())
    assert.equal(st.predicateType, 'https://slsa.dev/provenance/v1')
    assert.deepEqual(st.subject[0].digest, {sha256: built.digest.slice(7)})
    const deps = st.predicate.buildDefinition.resolvedDependencies
    assert.equal(deps[0].digest.gitCommit, commit)
    assert.equal(deps[0].annotations.dirty, false)
    const specDep = deps.find((d: {name?: string}) => d.name === 'spec.yaml')
    assert.equal(specDep.digest.sha256, sha256(await readFile(join(src, 'spec.yaml'))).slice(7))
    assert.equal(st.predicate.runDetails.builder.id, 'kit')
    // Provenance of a directory that does not build to the signed digest is refused.
    const mismatch = await kit(['sign', gh.reference, '--key', `${keyName}.key`, '--provenance', src, '--plain-http'], {...env, KIT_KEY_PASSWORD: PASSWORD})
    assert.equal(mismatch.code, 1)
    assert.match(mismatch.stderr, new RegExp(`builds to ${built.digest}, not the signed ${gh.digest}`))
    // Without provenance attached, --provenance fails.
    const noProv = await kit(['verify', gh.reference, '--key', `${keyName}.pub`, '--provenance', '--plain-http'], env)
    assert.equal(noProv.code, 1)
    assert.match(noProv.stderr, /no https:\/\/slsa\.dev\/provenance\/v1 attestation is attached/)
  })

  it('kit push --sign --key --provenance signs what it pushes; kit config + kit pull enforce the policy', async () => {
    const src = await kitDir(dir, 'pushsigned', '1.0.0')
    const pushed = await kit(['push', src, `${registry.host}/team/pushsigned:1.0.0`, '--sign', '--key', `${keyName}.key`, '--provenance', '--plain-http', '--json'], {...env, KIT_KEY_PASSWORD: PASSWORD})
    assert.equal(pushed.code, 0, pushed.stderr)
    assert.match(pushed.json.signature.referrer, /^sha256:/)
    assert.match(pushed.json.provenance.referrer, /^sha256:/)
    const v = await kit(['verify', `${registry.host}/team/pushsigned:1.0.0`, '--key', `${keyName}.pub`, '--provenance', '--plain-http', '--json'], env)
    assert.equal(v.code, 0, v.stderr)
    assert.equal(v.json.digest, pushed.json.digest)
    // A wrong passphrase is found before anything is pushed.
    const wrong = await kit(['push', src, `${registry.host}/team/pushsigned2:1.0.0`, '--sign', '--key', `${keyName}.key`, '--plain-http'], {...env, KIT_KEY_PASSWORD: 'nope-123'})
    assert.equal(wrong.code, 1)
    assert.match(wrong.stderr, /wrong passphrase/)
    assert.equal((await fetch(`${registry.url}/v2/team/pushsigned2/tags/list`)).status, 404)
    // The policy through kit config, on a consumer's KIT_HOME.
    const consumer = {...env, KIT_HOME: join(dir, 'consumer-cli')}
    assert.equal((await kit(['config', 'set', 'kit.requireSignature', 'true'], consumer)).code, 0)
    const set = await kit(['config', 'set', 'kit.trustedSigners', JSON.stringify([{key: `${keyName}.pub`}])], consumer)
    assert.equal(set.code, 0, set.stderr)
    const good = await kit(['pull', `${registry.host}/team/pushsigned:1.0.0`, '--plain-http', '--json'], consumer)
    assert.equal(good.code, 0, good.stderr)
    const bad = await kit(['pull', `${registry.host}/team/unsigned:1.0.0`, '--plain-http'], consumer)
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /^kit: refusing .*team\/unsigned:1\.0\.0 \(sha256:[0-9a-f]{64}\): no signature is attached \[kit\.requireSignature is on\]\n$/)
  })

  it('signs in the local store; kit push carries the signature to the registry', async () => {
    const src = await kitDir(dir, 'localsig', '1.0.0')
    const built = await kit(['build', src, '--json'], env)
    assert.equal(built.code, 0, built.stderr)
    const signed = await kit(['sign', 'localsig:1.0.0', '--key', `${keyName}.key`, '--json'], {...env, KIT_KEY_PASSWORD: PASSWORD})
    assert.equal(signed.code, 0, signed.stderr)
    assert.equal(signed.json.digest, built.json.digest)
    const local = await kit(['verify', 'localsig:1.0.0', '--key', `${keyName}.pub`], env)
    assert.equal(local.code, 0, local.stderr)
    const pushed = await kit(['push', 'localsig:1.0.0', `${registry.host}/team/localsig:1.0.0`, '--plain-http', '--json'], env)
    assert.equal(pushed.code, 0, pushed.stderr)
    const remote = await kit(['verify', `${registry.host}/team/localsig:1.0.0`, '--key', `${keyName}.pub`, '--plain-http'], env)
    assert.equal(remote.code, 0, remote.stderr)
  })

  it('signatures and provenance travel with registry-to-registry copies and kit export', async () => {
    const second = await startRegistry()
    try {
      const src = new RemoteRepository(parseReference(`${registry.host}/team/gh`), {plainHttp: true})
      const dst = new RemoteRepository(parseReference(`${second.host}/mirror/gh`), {plainHttp: true})
      await copy(src, '1.0.0', dst, '1.0.0', {referrers: true})
      const ok = await kit(['verify', `${second.host}/mirror/gh:1.0.0`, '--key', `${keyName}.pub`, '--plain-http'], env)
      assert.equal(ok.code, 0, ok.stderr)
    } finally {
      await second.stop()
    }
    // The local store: pulled with its referrers, exported with them, verified in the export.
    const home = join(dir, 'export-home')
    const e2 = {...env, KIT_HOME: home}
    const pulled = await kit(['pull', gh.reference, '--plain-http'], e2)
    assert.equal(pulled.code, 0, pulled.stderr)
    const out = join(dir, 'exported')
    const exported = await kit(['export', gh.reference, '--output', out], e2)
    assert.equal(exported.code, 0, exported.stderr)
    const layout = await OciLayoutStore.open(out)
    const keys = [{name: 'ci', key: await readPublicKey(`${keyName}.pub`)}]
    const v = await verifyManifest(layout, gh.descriptor, keys, {reference: out})
    assert.equal(v.verified.length, 1)
  })

  it('kit lock --update stops on a widened permission surface until approved; narrower passes; a hand-edited digest is refused', async () => {
    const kitsFile = join(dir, 'kits.yaml')
    await writeFile(kitsFile, `kits:\n  - ${registry.host}/team/app@^1\n`)
    const publish = async (version: string, extra: string) => {
      const b = await buildKit(await kitDir(dir, 'app', version, extra), {store})
      return push(store, b.reference, `${registry.host}/team/app:${version}`, {plainHttp: true})
    }
    const v1 = await publish('1.0.0', 'setup:\n  install:\n    - command: apt-get install -y jq\n')
    const first = await lockWithApproval(kitsFile, {plainHttp: true})
    const lockPath = first.path
    const entry1 = first.lockfile.kits[`${registry.host}/team/app@^1`]!
    assert.ok(entry1.resolved.endsWith(v1.digest))
    assert.deepEqual((entry1.surface as {network: {allow: string[]}}).network.allow, ['*.githubusercontent.com', 'api.github.com', 'codeload.github.com', 'github.com'])

    // 1.1.0: a new allow, a new inject domain and a new install command.
    const wider = (await readFile(join(SAMPLE, 'github', 'spec.yaml'), 'utf8')).includes('uploads.github.com')
    assert.equal(wider, false)
    await publish('1.1.0', 'setup:\n  install:\n    - command: apt-get install -y jq\n    - command: curl -fsSL https://get.example.com | sh\n')
    const before = await readFile(lockPath, 'utf8')
    const widenSpec = await kitDir(dir, 'app', '1.2.0', 'setup:\n  install:\n    - command: apt-get install -y jq\n')
    const spec = (await readFile(join(widenSpec, 'spec.yaml'), 'utf8'))
      .replace('      - "*.githubusercontent.com"', '      - "*.githubusercontent.com"\n      - uploads.example.com')
      .replace('        - domain: github.com', '        - domain: uploads.example.com\n          scheme: bearer\n        - domain: github.com')
    await writeFile(join(widenSpec, 'spec.yaml'), spec)
    const b12 = await buildKit(widenSpec, {store})
    const v12 = await push(store, b12.reference, `${registry.host}/team/app:1.2.0`, {plainHttp: true})
    const refused = await kit(['lock', kitsFile, '--update', '--plain-http'], env)
    assert.equal(refused.code, 1, refused.stdout)
    assert.match(refused.stderr, /^kit: .*team\/app@\^1: .* widens its permissions: .*new network allow uploads\.example\.com/)
    await assert.rejects(lockWithApproval(kitsFile, {plainHttp: true, update: true}), (e: Error & {code?: string}) => {
      assert.equal(e.code, 'APPROVAL_REQUIRED')
      assert.match(e.message, /new network allow uploads\.example\.com/)
      assert.match(e.message, /credential github newly injected into uploads\.example\.com/)
      assert.ok(!e.message.includes('\n'))
      return true
    })
    assert.equal(await readFile(lockPath, 'utf8'), before)
    const approved = await lockWithApproval(kitsFile, {plainHttp: true, update: true, approve: true})
    const entry2 = approved.lockfile.kits[`${registry.host}/team/app@^1`]!
    assert.ok(entry2.resolved.endsWith(v12.digest))
    assert.deepEqual((entry2.approval as {widened: string[]}).widened.sort(), [
      'credential github newly injected into uploads.example.com',
      'new network allow uploads.example.com',
    ])
    // 1.3.0 is narrower (drops the new allow and the install command): no approval needed.
    const narrowSpec = await kitDir(dir, 'app', '1.3.0')
    await writeFile(join(narrowSpec, 'spec.yaml'), (await readFile(join(narrowSpec, 'spec.yaml'), 'utf8')).replace('      - codeload.github.com\n', ''))
    const b13 = await buildKit(narrowSpec, {store})
    const v13 = await push(store, b13.reference, `${registry.host}/team/app:1.3.0`, {plainHttp: true})
    const narrowed = await lockWithApproval(kitsFile, {plainHttp: true, update: true})
    const entry3 = narrowed.lockfile.kits[`${registry.host}/team/app@^1`]!
    assert.ok(entry3.resolved.endsWith(v13.digest))
    assert.equal(entry3.approval, undefined)

    // A lockfile edited by hand to another digest: refused before anything is pulled.
    const lock = JSON.parse(await readFile(lockPath, 'utf8'))
    lock.kits[`${registry.host}/team/app@^1`].resolved = `${registry.host}/team/app@${v1.digest}`
    await writeFile(lockPath, JSON.stringify(lock))
    const consumer = await OciLayoutStore.open(join(dir, 'consumer-d'))
    await assert.rejects(pullLockedWithPolicy(lockPath, undefined, consumer, {plainHttp: true, policy: {...policy, requireSignature: false}}), /"integrity" does not match/)
    // ... with the integrity edited to match too: the signature policy refuses the unsigned digest.
    lock.kits[`${registry.host}/team/app@^1`].integrity = 'sha256-' + Buffer.from(v1.digest.slice(7), 'hex').toString('base64')
    await writeFile(lockPath, JSON.stringify(lock))
    await assert.rejects(pullLockedWithPolicy(lockPath, undefined, consumer, {plainHttp: true, policy}), new RegExp(`${v1.digest}.*no signature is attached`))
    // ... and without the signature policy, the recorded permission surface does not match it.
    await assert.rejects(
      pullLockedWithPolicy(lockPath, undefined, consumer, {plainHttp: true, policy: {...policy, requireSignature: false}}),
      new RegExp(`the kit at ${v1.digest} does not grant what the lockfile recorded for it .*new network allow codeload\\.github\\.com`),
    )
    assert.deepEqual(await consumer.list(), [])
  })
})

/** Attaches arbitrary bytes as a bundle referrer (what a hostile publisher could push). */
async function attachRaw(repo: RemoteRepository, subject: Descriptor, bundle: Buffer): Promise<void> {
  const empty = Buffer.from('{}')
  const config: Descriptor = {mediaType: MediaType.OciEmpty, digest: sha256(empty), size: 2}
  const layer: Descriptor = {mediaType: BUNDLE_MEDIA_TYPE, digest: sha256(bundle), size: bundle.length}
  await repo.push(config, empty)
  await repo.push(layer, bundle)
  const m = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType: MediaType.OciManifest, artifactType: BUNDLE_MEDIA_TYPE, config, layers: [layer], subject}))
  await repo.push({mediaType: MediaType.OciManifest, digest: sha256(m), size: m.length}, m)
}
