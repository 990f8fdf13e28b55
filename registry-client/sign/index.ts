// Kit-agnostic signing of OCI manifests: ECDSA P-256 keys, in-toto statements in DSSE, Sigstore
// bundles (v0.3, key-based, offline) attached as OCI referrers, and their verification.
export * from './errors.js'
export * from './keys.js'
export * from './statement.js'
export {BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES, bundleContent, parseBundle, signStatement, verifyBundle} from './bundle.js'
export type {BundleContent, BundleVerification, TrustedKey} from './bundle.js'
export {Annotation as BundleAnnotation, attachBundle, findBundles} from './referrers.js'
export type {AttachInfo, FoundBundle, RejectedReferrer} from './referrers.js'
export * from './verify.js'
