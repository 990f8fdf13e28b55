/* Generated from schemas/ by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit. */

/**
 * com.docker.sandbox/volume@1: one persistent (or tmpfs) path; keyed by the cleaned path.
 */
export interface VolumeV1Config {
  path: string
  size?: string
  tmpfs?: boolean
  mode?: string
}
