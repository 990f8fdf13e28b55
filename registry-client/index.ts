// The public API of registry-client: content stores (local OCI layout, memory, remote
// registries), graph copy, references, auth, semver tags and lockfiles. Knows nothing of kits.
export * from './descriptor.js'
export * from './target.js'
export * from './errors.js'
export * from './verify.js'
export * from './manifest.js'
export {OciLayoutStore, REF_NAME_ANNOTATION, atomicWrite} from './layout-store.js'
export type {StoredReference, GcOptions, GcResult} from './layout-store.js'
export {MemoryStore} from './memory-store.js'
export {copy} from './copy.js'
export type {CopyOptions, CopyResult} from './copy.js'
