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
  agent?: AgentBlock
  sandbox?: AgentBlock
  secrets?: string[]
  egress?: {
    [k: string]: string
  }
  network?: Network
  caps?: Caps
  credentials?: Credentials
  environment?: Environment
  settings?: {
    containerSettings?: {
      [k: string]: boolean
    }
  }
  commands?: Commands
  oauth?: {}
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
  persistence?: 'persistent' | 'ephemeral'
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
