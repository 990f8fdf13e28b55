/* Generated from schemas/ by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit. */

/**
 * com.docker.sandbox/credential@1: one service the workload authenticates to, and how the proxy presents proof (never where the secret lives). Keyed by (service, phase).
 */
export interface CredentialV1Config {
  service: string
  phase: ('install' | 'runtime') | ['install' | 'runtime', ...('install' | 'runtime')[]]
  apiKey?: ApiKey
  oauth?: OAuth
}
/**
 * This interface was referenced by `CredentialV1Config`'s JSON-Schema
 * via the `definition` "ApiKey".
 */
export interface ApiKey {
  /**
   * In-container env var (a sentinel when proxyManaged); empty for an inject-only key.
   */
  name?: string
  proxyManaged?: boolean
  inject?: Inject[]
}
/**
 * This interface was referenced by `CredentialV1Config`'s JSON-Schema
 * via the `definition` "Inject".
 */
export interface Inject {
  domain: string
  header?: string
  format?: string
  scheme?: 'basic'
  username?: string
}
/**
 * This interface was referenced by `CredentialV1Config`'s JSON-Schema
 * via the `definition` "OAuth".
 */
export interface OAuth {
  tokenEndpoint?: {
    host: string
    path?: string
  }
  resourceHosts?: string[]
  sentinels?: {
    accessToken?: string
    refreshToken?: string
  }
  credentialFile?: {
    path: string
    structure?: {}
    format?: 'json' | 'toml'
  }
  responseFields?: {
    accessToken?: string
    refreshToken?: string
    expiresIn?: string
  }
  passthrough?: boolean
}
