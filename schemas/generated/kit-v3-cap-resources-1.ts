/* Generated from schemas/ by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit. */

/**
 * com.docker.sandbox/resources@1: the compute the workload asks for (constrains the kit, grants nothing).
 */
export interface ResourcesV1Config {
  cpu?: number
  memory?: string
  gpu?: string
}
