/* Generated from schemas/ by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit. */

/**
 * This interface was referenced by `NetworkPolicyV2Config`'s JSON-Schema
 * via the `definition` "NetworkEntryItem".
 */
export type NetworkEntryItem = string | NetworkEntry

/**
 * com.docker.sandbox/network-policy@2: @1 phases whose entries are a host string or {hosts, methods, paths}; a bounded entry grants only matching HTTP requests.
 */
export interface NetworkPolicyV2Config {
  install?: NetworkRulesV2
  runtime?: NetworkRulesV2
}
/**
 * This interface was referenced by `NetworkPolicyV2Config`'s JSON-Schema
 * via the `definition` "NetworkRulesV2".
 */
export interface NetworkRulesV2 {
  allow?: NetworkEntryItem[]
  deny?: NetworkEntryItem[]
}
/**
 * This interface was referenced by `NetworkPolicyV2Config`'s JSON-Schema
 * via the `definition` "NetworkEntry".
 */
export interface NetworkEntry {
  /**
   * @minItems 1
   */
  hosts: [string, ...string[]]
  /**
   * @minItems 1
   */
  methods?: [string, ...string[]]
  /**
   * @minItems 1
   */
  paths?: [string, ...string[]]
}
