/* Generated from schemas/ by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit. */

/**
 * com.docker.sandbox/port@1: one in-container port to publish; keyed by (container, transport), transport defaulting to tcp.
 */
export interface PortV1Config {
  name?: string
  container: number
  transport?: 'tcp' | 'udp'
}
