// In-process figures for bench/trust/run.sh (no CLI start-up): for each REF, the median time of
// verifyReference (content + signature) and of verifyManifest alone (signature only), then the
// median of pull() and pullWithPolicy() of the largest into fresh stores, and their ratio.
// Usage: node lib.mjs RUNS PUBKEY REF...
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {performance} from 'node:perf_hooks'

const root = new URL('../../dist/', import.meta.url)
const {verifyReference, openSubject} = await import(new URL('runtime/trust/operations.js', root))
const {verifyManifest, readPublicKey} = await import(new URL('registry-client/sign/index.js', root))
const {pull} = await import(new URL('registry-client/pull.js', root))
const {pullWithPolicy} = await import(new URL('runtime/trust/pull.js', root))
const {OciLayoutStore} = await import(new URL('registry-client/layout-store.js', root))

const [runsArg, pub, ...refs] = process.argv.slice(2)
const runs = Number(runsArg)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const time = async (fn) => {
  const t = performance.now()
  await fn()
  return performance.now() - t
}
const keys = [{name: pub, key: await readPublicKey(pub)}]

for (const ref of refs) {
  const full = [], sig = []
  const subject = await openSubject(ref, {plainHttp: true})
  for (let i = 0; i < runs; i++) {
    full.push(await time(() => verifyReference(ref, {plainHttp: true, keyPaths: [pub]})))
    sig.push(await time(() => verifyManifest(subject.target, subject.descriptor, keys, {reference: ref})))
  }
  console.log(`in-process verify ${ref}: ${median(full).toFixed(1)} ms (content + signature), ${median(sig).toFixed(1)} ms (signature only)`)
}

const big = refs[refs.length - 1]
const policy = {requireSignature: true, trustedSigners: [{key: pub}]}
const plain = [], checked = []
for (let i = 0; i < runs; i++) {
  for (const [list, fn] of [[plain, (s) => pull(big, s, {plainHttp: true})], [checked, (s) => pullWithPolicy(big, s, {plainHttp: true, policy})]]) {
    const dir = await mkdtemp(join(tmpdir(), 'kit-bench-trust-store-'))
    const store = await OciLayoutStore.open(dir)
    list.push(await time(() => fn(store)))
    await rm(dir, {recursive: true, force: true})
  }
}
const a = median(plain), b = median(checked)
console.log(`in-process pull ${big}: ${a.toFixed(1)} ms plain, ${b.toFixed(1)} ms with kit.requireSignature: ratio ${(b / a).toFixed(3)}`)
