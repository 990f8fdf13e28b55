/* Generated from schemas/ by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit. */

/**
 * A user name of the image (root, agent, ...) or a numeric uid, as sbx reads it (the image's users decide); empty means the step's default.
 *
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "User".
 */
export type User = string

/**
 * A kit spec.yaml in Docker Sandboxes schema v2: a sandbox (agent) kit or a mixin kit.
 */
export interface KitSpecV2 {
  schemaVersion: '2'
  /**
   * `agent` is read as a synonym of `sandbox`.
   */
  kind: 'sandbox' | 'mixin' | 'agent'
  name: string
  /**
   * A semver version.
   */
  version?: string
  displayName?: string
  description?: string
  sourceURL?: string
  licenses?: string[]
  /**
   * Dotted field paths that child kits may not override.
   */
  locked?: string[]
  security?: Security
  args?: {
    [k: string]: KitArg
  }
  agentInstructions?: AgentInstructions
  permissions?: Permissions
  ports?: Port[]
  credentials?: Credential[]
  environment?: Environment
  setup?: Setup
  volumes?: Volume[]
  sandbox?: SandboxBlock
  /**
   * Parent sandbox kit (sandbox kits only).
   */
  extends?: string
  /**
   * Mixins a sandbox kit brings (sandbox kits only).
   */
  mixins?: string[]
  requires?: Requires
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "Security".
 */
export interface Security {
  privileged?: boolean
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "KitArg".
 */
export interface KitArg {
  default?: string
  required?: boolean
  description?: string
  /**
   * @minItems 1
   */
  enum?: [string, ...string[]]
  pattern?: string
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "AgentInstructions".
 */
export interface AgentInstructions {
  /**
   * Memory file name (sandbox kits only), e.g. CLAUDE.md or AGENTS.md.
   */
  filename?: string
  content?: string
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "Permissions".
 */
export interface Permissions {
  network?: NetworkPermissions
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "NetworkPermissions".
 */
export interface NetworkPermissions {
  allow?: string[]
  deny?: string[]
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "Port".
 */
export interface Port {
  container: number
  protocol?: '' | 'tcp' | 'udp'
  name?: string
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "Credential".
 */
export interface Credential {
  /**
   * The service name (lower-kebab by convention), unique across a composition.
   */
  service: string
  description?: string
  required?: boolean
  apiKey?: ApiKey
  oauth?: OAuth
  /**
   * Reserved by sbx for later use; ignored.
   */
  provider?: string
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "ApiKey".
 */
export interface ApiKey {
  /**
   * The environment variable the agent sees; empty (as in sbx's catalog): no variable is set, the proxy still injects.
   */
  name: string
  proxyManaged?: boolean
  inject?: Inject[]
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "Inject".
 */
export interface Inject {
  domain: string
  /**
   * Header to overwrite. With scheme bearer it defaults to Authorization.
   */
  header?: string
  format?: string
  scheme?: 'bearer' | 'basic'
  username?: string
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "OAuth".
 */
export interface OAuth {
  tokenEndpoint?: {
    host: string
    path: string
  }
  resourceHosts?: string[]
  sentinels?: {
    accessToken?: string
    refreshToken?: string
  }
  credentialFile?: {
    path: string
    template?: string
    structure?: {}
  }
  skipIfEnv?: string[]
  responseFields?: {
    accessToken?: string
    refreshToken?: string
    expiresIn?: string
    scope?: string
  }
  passthrough?: boolean
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "Environment".
 */
export interface Environment {
  variables?: {
    [k: string]: string
  }
  /**
   * Accepted for sbx compatibility and ignored: in schema v2 credentials[].apiKey.proxyManaged says it.
   */
  proxyManaged?: string[]
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "Setup".
 */
export interface Setup {
  install?: InstallCommand[]
  startup?: StartupCommand[]
  files?: SetupFile[]
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "InstallCommand".
 */
export interface InstallCommand {
  /**
   * Run with `sh -c`, as root unless `user` says otherwise.
   */
  command: string
  user?: User
  description?: string
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "StartupCommand".
 */
export interface StartupCommand {
  /**
   * @minItems 1
   */
  command: [string, ...string[]]
  user?: User
  background?: boolean
  description?: string
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "SetupFile".
 */
export interface SetupFile {
  path: string
  content: string
  mode?: string
  onlyIfMissing?: boolean
  description?: string
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "Volume".
 */
export interface Volume {
  path: string
  size?: string
  mode?: string
  type?: '' | 'tmpfs'
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "SandboxBlock".
 */
export interface SandboxBlock {
  image?: string
  entrypoint?: string[]
  command?:
    | string[]
    | {
        default?: string[]
        interactive?: string[]
      }
  resources?: {
    cpu?: number | string
    memory?: string
    gpu?: string
  }
  /**
   * Accepted for sbx compatibility; kit does not build images (use sandbox.image).
   */
  build?: {
    context?: string
    dockerfile?: string
    args?: {
      [k: string]: string
    }
    target?: string
    platforms?: string[]
  }
}
/**
 * This interface was referenced by `KitSpecV2`'s JSON-Schema
 * via the `definition` "Requires".
 */
export interface Requires {
  agent?: string
}
