// The internal kit model: the schema v2 shape (generated from schemas/kit-v2.schema.json), with
// `kind` normalised (`agent` → `sandbox`). Schema v1 files are normalised into it.
import type {KitSpecV2} from '../schemas/generated/kit-v2.js'

export type {
  AgentInstructions, ApiKey, Credential, Environment, Inject, InstallCommand, KitArg, NetworkPermissions,
  Port, SandboxBlock, Setup, SetupFile, StartupCommand, Volume,
} from '../schemas/generated/kit-v2.js'
export type {KitSpecV1} from '../schemas/generated/kit-v1.js'

export type KitKind = 'sandbox' | 'mixin'

export type KitSpec = Omit<KitSpecV2, 'kind' | 'schemaVersion'> & {
  schemaVersion: '2'
  kind: KitKind
}

export const ARTIFACT_TYPE = 'application/vnd.docker.sandbox.kit.v2'
export const CONFIG_MEDIA_TYPE = 'application/vnd.docker.sandbox.kit.v2.spec+yaml'
/** sbx's legacy v1 artifact: spec.yaml and files/ in one ZIP layer, an empty config. */
export const V1_ZIP_MEDIA_TYPE = 'application/vnd.docker.sandbox.kit.v1.content.zip'
/** The artifactType kit reports for a v1 ZIP artifact that carries none. */
export const ARTIFACT_TYPE_V1 = 'application/vnd.docker.sandbox.kit.v1'

export const Annotation = {
  Name: 'vnd.docker.sandbox.kit.name',
  Kind: 'vnd.docker.sandbox.kit.kind',
  Version: 'vnd.docker.sandbox.kit.version',
  Title: 'org.opencontainers.image.title',
  Description: 'org.opencontainers.image.description',
  Source: 'org.opencontainers.image.source',
  Created: 'org.opencontainers.image.created',
  /** Set by kit when the config holds a schema v1 spec.yaml (a v2 artifact's config is v2). */
  SchemaVersion: 'vnd.docker.sandbox.kit.schema-version',
} as const
