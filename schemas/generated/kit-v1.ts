/* Generated from schemas/ by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit. */

/**
 * A kit spec.yaml in Docker Sandboxes schema v1 ("Agent Kit" / "Mixin Kit"). Loaded and normalised to the v2 model; deprecated spellings give warnings.
 */
export interface KitSpecV1 {
  schemaVersion: '1'
  kind: 'agent' | 'sandbox' | 'mixin'
  name: string
  displayName?: string
  description?: string
  version?: string
  /**
   * Deprecated: the agent binary (use agent.entrypoint.run).
   */
  binary?: string
  /**
   * Deprecated: the agent image (use agent.image).
   */
  template?: string
  /**
   * Deprecated: use agent.aiFilename.
   */
  aiFilename?: string
  /**
   * Deprecated: use agent.entrypoint.args.
   */
  runOptions?: string[]
  /**
   * Arguments for an interactive (TTY) run; sandbox.command.interactive in v2.
   */
  interactiveOptions?: string[]
  security?: {
    privileged?: boolean
  }
  volumes?:
    | {
        [k: string]: string
      }
    | {
        path: string
        size?: string
        mode?: string
        type?: '' | 'tmpfs'
      }[]
  tmpfs?: {
    [k: string]: string
  }
  extends?: string
  requires?: {
    agent?: string
  }
  agent?: AgentBlock
  sandbox?: AgentBlock
  secrets?: string[]
  egress?: {
    [k: string]: string
  }
  network?: Network
  caps?: Caps
  /**
   * As sbx's v1 decoder: a mapping with sources: (host-side discovery), or a list of v2 credentials.
   */
  credentials?: {
    [k: string]: unknown
  }
  environment?: Environment
  settings?: {
    containerSettings?: {
      [k: string]: boolean
    }
  }
  commands?: Commands
  oauth?: OAuthPolicy
  /**
   * Deprecated spelling of agentContext.
   */
  memory?: string
  agentContext?: string
  sourceURL?: string
  /**
   * Deprecated; ignored.
   */
  kitDir?: string
  /**
   * Deprecated; ignored (as sbx).
   */
  persistence?: string
  mixins?: string[]
  locked?: string[]
  licenses?: string[]
  resources?: {
    cpu?: number | string
    memoryMB?: number
    gpu?: string
  }
  build?: {}
  publishedPorts?: {
    container: number
    protocol?: '' | 'tcp' | 'udp'
    name?: string
  }[]
}
/**
 * This interface was referenced by `KitSpecV1`'s JSON-Schema
 * via the `definition` "AgentBlock".
 */
export interface AgentBlock {
  image?: string
  aiFilename?: string
  /**
   * Deprecated; ignored (as sbx).
   */
  persistence?: string
  entrypoint?: {
    run?: string[]
    args?: string[]
    ttyArgs?: string[]
    pipeMode?: string
  }
  resources?: {
    cpu?: number | string
    memoryMB?: number
    gpu?: string
  }
  build?: {}
}
/**
 * This interface was referenced by `KitSpecV1`'s JSON-Schema
 * via the `definition` "Network".
 */
export interface Network {
  allowedDomains?: string[]
  deniedDomains?: string[]
  serviceDomains?: {
    [k: string]: string
  }
  serviceAuth?: {
    [k: string]: {
      headerName: string
      valueFormat: string
    }
  }
  publishedPorts?: {
    container: number
    protocol?: '' | 'tcp' | 'udp'
    name?: string
  }[]
}
/**
 * This interface was referenced by `KitSpecV1`'s JSON-Schema
 * via the `definition` "Caps".
 */
export interface Caps {
  network?: {
    allow?: string[]
    deny?: string[]
  }
}
/**
 * This interface was referenced by `KitSpecV1`'s JSON-Schema
 * via the `definition` "Environment".
 */
export interface Environment {
  variables?: {
    [k: string]: string
  }
  proxyManaged?: string[]
}
/**
 * This interface was referenced by `KitSpecV1`'s JSON-Schema
 * via the `definition` "Commands".
 */
export interface Commands {
  install?: {
    command: string
    user?: string
    description?: string
  }[]
  startup?: {
    /**
     * @minItems 1
     */
    command: [string, ...string[]]
    user?: string
    background?: boolean
    description?: string
  }[]
  initFiles?: {
    path: string
    content: string
    mode?: string
    onlyIfMissing?: boolean
    description?: string
  }[]
}
/**
 * The v1 top-level oauth: block; normalised into credentials[].oauth of its service, as sbx does.
 *
 * This interface was referenced by `KitSpecV1`'s JSON-Schema
 * via the `definition` "OAuthPolicy".
 */
export interface OAuthPolicy {
  service: string
  tokenEndpoint?: {
    host: string
    path: string
  }
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
  passthroughResponse?: boolean
}
/**
 * This interface was referenced by `KitSpecV1`'s JSON-Schema
 * via the `definition` "Credentials".
 */
export interface Credentials {
  sources?: {
    [k: string]: {
      env?: string[]
      file?: {
        path: string
        parser?: string
      }
      priority?: 'env-first' | 'file-first'
      required?: boolean
    }
  }
}
/**
 * This interface was referenced by `KitSpecV1`'s JSON-Schema
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
 * This interface was referenced by `KitSpecV1`'s JSON-Schema
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
 * This interface was referenced by `KitSpecV1`'s JSON-Schema
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
 * This interface was referenced by `KitSpecV1`'s JSON-Schema
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
