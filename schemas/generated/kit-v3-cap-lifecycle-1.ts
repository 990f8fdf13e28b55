/* Generated from schemas/ by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit. */

/**
 * This interface was referenced by `LifecycleV1Config`'s JSON-Schema
 * via the `definition` "Command".
 */
export type Command = string | [string, ...string[]]

/**
 * com.docker.sandbox/lifecycle@1: install hooks (once, at create), startup hooks (every boot), files written at start, and the interactive argv tail.
 */
export interface LifecycleV1Config {
  install?: InstallHook[]
  startup?: StartupHook[]
  files?: LifecycleFile[]
  interactive?: string[]
}
/**
 * This interface was referenced by `LifecycleV1Config`'s JSON-Schema
 * via the `definition` "InstallHook".
 */
export interface InstallHook {
  command: Command
  user?: string
  env?: string[]
  description?: string
}
/**
 * This interface was referenced by `LifecycleV1Config`'s JSON-Schema
 * via the `definition` "StartupHook".
 */
export interface StartupHook {
  command: Command
  user?: string
  background?: boolean
  env?: string[]
  description?: string
}
/**
 * This interface was referenced by `LifecycleV1Config`'s JSON-Schema
 * via the `definition` "LifecycleFile".
 */
export interface LifecycleFile {
  path: string
  content?: string
  mode?: string
  overwrite?: boolean
  description?: string
}
