// SPEC-v3 constants: the manifest annotations, the kinds, the well-known capability types and
// their arity (§7.1), and the descriptor types generated from schemas/kit-v3*.schema.json.
export type {Arg, Capability, CapabilityGroup, CapabilityItem, KitDescriptorV3, SetKit} from '../../schemas/generated/kit-v3.js'
export type {NetworkPolicyV1Config} from '../../schemas/generated/kit-v3-cap-network-policy-1.js'
export type {NetworkPolicyV2Config, NetworkEntry} from '../../schemas/generated/kit-v3-cap-network-policy-2.js'
export type {CredentialV1Config} from '../../schemas/generated/kit-v3-cap-credential-1.js'
export type {LifecycleV1Config} from '../../schemas/generated/kit-v3-cap-lifecycle-1.js'
export type {AgentContextV1Config} from '../../schemas/generated/kit-v3-cap-agent-context-1.js'
export type {ResourcesV1Config} from '../../schemas/generated/kit-v3-cap-resources-1.js'
export type {PortV1Config} from '../../schemas/generated/kit-v3-cap-port-1.js'
export type {VolumeV1Config} from '../../schemas/generated/kit-v3-cap-volume-1.js'

export const V3Annotation = {
  Descriptor: 'vnd.docker.sandbox.kit.descriptor',
  SchemaVersion: 'vnd.docker.sandbox.kit.schema-version',
  Capabilities: 'vnd.docker.sandbox.kit.capabilities',
  BuiltBy: 'vnd.docker.sandbox.kit.built-by',
} as const

/** The first line that dispatches a descriptor to the v3 frontend. */
export const SYNTAX_LINE = /^#\s*syntax\s*=\s*docker\/sandbox-kit:3\b/

export const NS = 'com.docker.sandbox/'
export const T = {
  NetworkPolicy1: `${NS}network-policy@1`,
  NetworkPolicy2: `${NS}network-policy@2`,
  Credential: `${NS}credential@1`,
  SshAgent: `${NS}ssh-agent@1`,
  Volume: `${NS}volume@1`,
  HostMount: `${NS}host-mount@1`,
  Port: `${NS}port@1`,
  UsbDevice: `${NS}usb-device@1`,
  Resources: `${NS}resources@1`,
  Privileged: `${NS}privileged@1`,
  LongRunning: `${NS}long-running@1`,
  Lifecycle: `${NS}lifecycle@1`,
  AgentContext: `${NS}agent-context@1`,
  AgentSessions: `${NS}agent-sessions@1`,
  AgentInteractiveSessions: `${NS}agent-interactive-sessions@1`,
  AgentSkills: `${NS}agent-skills@1`,
  AgentSkill: `${NS}agent-skill@1`,
  GitIdentity: `${NS}git-identity@1`,
  KitRegistry: `${NS}kit-registry@1`,
  Sbx: `${NS}sbx@1`,
} as const

/** §7.1: at most one entry each per declaration block. */
export const SINGLETONS: ReadonlySet<string> = new Set([
  T.NetworkPolicy1, T.NetworkPolicy2, T.Resources, T.Privileged, T.KitRegistry, T.AgentSessions,
  T.AgentInteractiveSessions, T.Lifecycle, T.AgentContext, T.Sbx, T.LongRunning, T.GitIdentity,
])

/** §11: types that take no config at all. */
export const CONFIG_LESS: ReadonlySet<string> = new Set([T.Privileged, T.KitRegistry, T.Sbx, T.LongRunning, T.GitIdentity])

/** Types whose config kit decodes strictly with its own schema (schemas/kit-v3-cap-*.schema.json). */
export const TYPED_CONFIGS = [
  T.NetworkPolicy1, T.NetworkPolicy2, T.Credential, T.Lifecycle, T.AgentContext, T.Resources, T.Port, T.Volume,
] as const

/** Well-known types this version of kit knows by name (the rest of §7.2 rides opaquely, as unknown types do). */
export const WELL_KNOWN: ReadonlySet<string> = new Set(Object.values(T))

/** The staged sources of a published kit (§10). */
export const STAGE_DIR = 'usr/share/sandbox/kit'

/** §9.4 size budget of the published descriptor. */
export const DESCRIPTOR_WARN_BYTES = 64 * 1024
export const DESCRIPTOR_MAX_BYTES = 512 * 1024

/** §10: a v3 kit is a plain image manifest (image-config media type) carrying the descriptor annotation. */
export function isV3Manifest(m: {mediaType?: string; artifactType?: string; config?: {mediaType: string}; annotations?: Record<string, string>}): boolean {
  const config = m.config?.mediaType
  return (config === 'application/vnd.oci.image.config.v1+json' || config === 'application/vnd.docker.container.image.v1+json') &&
    typeof m.annotations?.[V3Annotation.Descriptor] === 'string'
}
