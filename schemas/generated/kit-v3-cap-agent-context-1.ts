/* Generated from schemas/ by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit. */

/**
 * com.docker.sandbox/agent-context@1: instruction content the agent reads; directory+filename select a discovery profile; contentFile and content are exclusive.
 */
export interface AgentContextV1Config {
  filename?: string
  directory?: string
  contentFile?: string
  content?: string
}
