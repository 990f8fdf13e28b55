/* Generated from schemas/ by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit. */

/**
 * An ordinary capability request, or a group of them (§7.1.1).
 *
 * This interface was referenced by `KitDescriptorV3`'s JSON-Schema
 * via the `definition` "CapabilityItem".
 */
export type CapabilityItem = Capability | CapabilityGroupItem

/**
 * A Docker Sandbox kit descriptor, schemaVersion "3" (docker/sandbox-kit-spec SPEC-v3 §4). Capability configs of the well-known types have their own schemas (kit-v3-cap-*.schema.json); kit-compiler/v3 applies them per entry.
 */
export interface KitDescriptorV3 {
  schemaVersion: '3'
  /**
   * `set` is an authoring kind only; publishing derives workload or mixin.
   */
  kind: 'workload' | 'mixin' | 'set'
  displayName?: string
  author?: string
  description?: string
  sourceUrl?: string
  /**
   * Absolute https URL only.
   */
  iconUrl?: string
  /**
   * Fallback version for unversioned provides; version-shaped or a build-phase arg reference.
   */
  version?: string
  licenses?: string[]
  provides?: string[]
  requires?: string[]
  integrates?: string[]
  conflicts?: string[]
  capabilities?: CapabilityItem[]
  args?: {
    [k: string]: Arg
  }
  /**
   * Inline Dockerfile text (§3.2).
   */
  build?: string
  /**
   * Companion recipe path relative to the descriptor's directory (§3.1).
   */
  dockerfile?: string
  /**
   * The kits a set merges (§3.4).
   */
  kits?: SetKit[]
}
/**
 * This interface was referenced by `KitDescriptorV3`'s JSON-Schema
 * via the `definition` "Capability".
 */
export interface Capability {
  /**
   * <namespace>/<name>@<config-schema version>.
   */
  type: string
  /**
   * Display label only: never identity, merge key or permission.
   */
  name?: string
  /**
   * Skipped and recorded when the host cannot provide it; a required one fails closed.
   */
  optional?: boolean
  description?: string
  /**
   * Type-specific payload: strictly decoded for well-known types (schemas/kit-v3-cap-*.schema.json), opaque for others.
   */
  config?: {} | null
  source?: CapabilitySource
}
/**
 * Diagnostic provenance; never a trust input.
 *
 * This interface was referenced by `KitDescriptorV3`'s JSON-Schema
 * via the `definition` "CapabilitySource".
 */
export interface CapabilitySource {
  kit?: string
  path?: string
}
/**
 * This interface was referenced by `KitDescriptorV3`'s JSON-Schema
 * via the `definition` "CapabilityGroupItem".
 */
export interface CapabilityGroupItem {
  group: CapabilityGroup
  source?: CapabilitySource
}
/**
 * This interface was referenced by `KitDescriptorV3`'s JSON-Schema
 * via the `definition` "CapabilityGroup".
 */
export interface CapabilityGroup {
  name?: string
  description?: string
  optional?: boolean
  /**
   * @minItems 1
   */
  capabilities: [Capability, ...Capability[]]
}
/**
 * This interface was referenced by `KitDescriptorV3`'s JSON-Schema
 * via the `definition` "Arg".
 */
export interface Arg {
  default?: string
  required?: boolean
  description?: string
  /**
   * @minItems 1
   */
  enum?: [string, ...string[]]
  pattern?: string
  env?: string
  buildArg?: string
}
/**
 * This interface was referenced by `KitDescriptorV3`'s JSON-Schema
 * via the `definition` "SetKit".
 */
export interface SetKit {
  ref: string
  digest?: string
  args?: {
    [k: string]: string
  }
}
