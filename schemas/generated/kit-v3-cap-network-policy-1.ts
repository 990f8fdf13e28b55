/* Generated from schemas/ by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit. */

/**
 * com.docker.sandbox/network-policy@1: egress by phase; install is open while install hooks run, runtime is what the agent gets. Deny wins.
 */
export interface NetworkPolicyV1Config {
  install?: NetworkRulesV1
  runtime?: NetworkRulesV1
}
/**
 * This interface was referenced by `NetworkPolicyV1Config`'s JSON-Schema
 * via the `definition` "NetworkRulesV1".
 */
export interface NetworkRulesV1 {
  allow?: string[]
  deny?: string[]
}
