// v3 kits in the local store (SPEC-v3 §10): recognised from the manifest alone (a plain image
// manifest with the descriptor annotation; for an index, its annotations or else a platform
// manifest's, §9.3), the published descriptor revalidated on load (§11 ValidatePublished), and
// what `kit inspect` shows: kind, provides/requires, a capabilities table, args, layers.
import {isIndex, MediaType, type Descriptor} from '../../registry-client/descriptor.js'
import {parseManifest, type ManifestLike} from '../../registry-client/manifest.js'
import {type ArtifactReader, storeRef} from '../artifact.js'
import {KitValidationError} from '../diagnostics.js'
import {isV3Manifest, V3Annotation, type KitDescriptorV3} from './descriptor.js'
import {goArch} from './build.js'
import type {V3Source} from './source.js'
import {validateV3Source} from './validate.js'

export interface V3CapabilityRow {
  /** Position: `3` or `2.group[1]`. */
  at: string
  type: string
  name?: string
  optional: boolean
  group?: string
  description?: string
  /** The config as published (opaque for unknown types). */
  config?: unknown
}

export interface V3ArgRow {
  name: string
  phase: 'build' | 'create'
  default?: string
  required: boolean
  enum?: string[]
  pattern?: string
  env?: string
  buildArg?: string
  description?: string
}

export interface V3Inspection {
  reference: string
  digest: string
  size: number
  mediaType: string
  schemaVersion: '3'
  kind: string
  displayName?: string
  description?: string
  version?: string
  provides: string[]
  requires: string[]
  integrates: string[]
  conflicts: string[]
  capabilities: V3CapabilityRow[]
  args: V3ArgRow[]
  layers: Descriptor[]
  config: Descriptor
  /** The image config's runtime contract (entrypoint, cmd, env, user, workdir). */
  image: Record<string, unknown>
  annotations: Record<string, string>
  descriptor: KitDescriptorV3
}

/** The manifest of a v3 kit at `reference`, or undefined when it is not one. */
export async function readV3Manifest(store: ArtifactReader, reference: string): Promise<{descriptor: Descriptor; manifest: ManifestLike; annotations: Record<string, string>} | undefined> {
  const desc = await store.resolve(storeRef(reference))
  const m = parseManifest(await store.fetchBytes(desc), reference)
  if (isIndex(desc.mediaType) || m.manifests) {
    const entries = m.manifests ?? []
    const pick = entries.find((e) => e.platform?.os === 'linux' && e.platform?.architecture === goArch()) ?? entries.find((e) => e.platform?.os !== 'unknown') ?? entries[0]
    if (!pick) return undefined
    const inner = parseManifest(await store.fetchBytes(pick), reference)
    if (!isV3Manifest(inner) && !(m.annotations?.[V3Annotation.Descriptor] && inner.config)) return undefined
    return {descriptor: pick, manifest: inner, annotations: {...(inner.annotations ?? {}), ...(m.annotations ?? {})}}
  }
  if (desc.mediaType !== MediaType.OciManifest && desc.mediaType !== MediaType.DockerManifest) return undefined
  if (!isV3Manifest(m)) return undefined
  return {descriptor: desc, manifest: m, annotations: m.annotations ?? {}}
}

/** Decodes and revalidates a published descriptor; errors are located in the annotation's JSON. */
export async function decodePublished(json: string, shownAs: string): Promise<KitDescriptorV3> {
  const src: V3Source = {form: 'descriptor', dir: '.', path: shownAs, file: shownAs, stem: 'kit', fileBytes: Buffer.from(json), yaml: json, lineOffset: 0, columnOffset: 0}
  const result = await validateV3Source(src, {published: true})
  if (!result.valid || !result.kit) throw new KitValidationError(result.diagnostics)
  return result.kit.descriptor
}

export async function inspectV3(store: ArtifactReader, reference: string): Promise<V3Inspection | undefined> {
  const found = await readV3Manifest(store, reference)
  if (!found) return undefined
  const {manifest, annotations} = found
  const d = await decodePublished(annotations[V3Annotation.Descriptor]!, `${reference} (annotation ${V3Annotation.Descriptor})`)
  const config = manifest.config!
  const imageConfig = JSON.parse((await store.fetchBytes(config)).toString('utf8')) as {config?: Record<string, unknown>}
  const capabilities: V3CapabilityRow[] = []
  ;(d.capabilities ?? []).forEach((item: any, i) => {
    if (item.group) {
      item.group.capabilities.forEach((c: any, j: number) => capabilities.push({
        at: `${i}.group[${j}]`, type: c.type, name: c.name || undefined, optional: item.group.optional === true, group: item.group.name ?? `#${i}`,
        description: c.description, config: c.config,
      }))
    } else {
      capabilities.push({at: String(i), type: item.type, name: item.name || undefined, optional: item.optional === true, description: item.description, config: item.config})
    }
  })
  const args: V3ArgRow[] = Object.entries(d.args ?? {}).map(([name, a]) => ({
    name, phase: a.buildArg ? 'build' : 'create', default: a.default, required: a.required === true, enum: a.enum, pattern: a.pattern,
    env: a.env, buildArg: a.buildArg, description: a.description,
  }))
  return {
    reference: storeRef(reference),
    digest: found.descriptor.digest,
    size: found.descriptor.size,
    mediaType: found.descriptor.mediaType,
    schemaVersion: '3',
    kind: d.kind,
    displayName: d.displayName,
    description: d.description,
    version: d.version,
    provides: d.provides ?? [],
    requires: d.requires ?? [],
    integrates: d.integrates ?? [],
    conflicts: d.conflicts ?? [],
    capabilities,
    args,
    layers: manifest.layers ?? [],
    config,
    image: imageConfig.config ?? {},
    annotations,
    descriptor: d,
  }
}
