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
export {RemoteRepository, ping, referrersTag, nextLink} from './remote.js'
export type {RemoteOptions} from './remote.js'
export {RegistryClient} from './client.js'
export type {ClientOptions} from './client.js'
export type {TlsOptions} from './http.js'
export {Reference, parseReference, isLoopbackHost, looksLikeHost, DOCKER_HUB} from './reference.js'
export type {ParseOptions} from './reference.js'
export {Authenticator, parseChallenges, repositoryScope, mergeScopes, clearTokenCache} from './auth.js'
export type {Challenge} from './auth.js'
export {
  AuthFile,
  ChainCredentials,
  DockerConfigCredentials,
  EnvCredentials,
  defaultCredentials,
  dockerConfigPath,
  runHelper,
} from './credentials.js'
export type {Credential, CredentialSource} from './credentials.js'
export {DEFAULT_RETRY_POLICY, isRetryableStatus, retryAfterMs} from './retry.js'
export type {RetryPolicy} from './retry.js'
export {push} from './publish.js'
export type {PushOptions, PushResult} from './publish.js'
export {lockFromRegistry, pull, pullLocked, resolveRemote} from './pull.js'
export type {PullOptions, PullResult, ResolveOptions, Resolved} from './pull.js'
export {publishTags, resolveRange, tagForVersion, versionOfTag, isRange} from './semver.js'
export {checkAllowedSource, isAllowedSource, SourceNotAllowedError} from './sources.js'
export {
  checkEntry,
  findLocked,
  integrityOf,
  KitsFileError,
  LOCKFILE_NAME,
  LockfileError,
  lockfilePathFor,
  lockKits,
  readKitsFile,
  readLockfile,
  serializeLockfile,
} from './lockfile.js'
export type {LockChange, LockEntry, Lockfile, LockOptions, LockResult} from './lockfile.js'
