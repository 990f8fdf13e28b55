import {Args, Flags} from '@oclif/core'
import {type ArtifactReader, inspectKit, type KitInspection, storeRef} from '../../kit-compiler/artifact.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {RemoteReader} from '../../registry-client/remote-reader.js'
import {pullPolicy} from '../../runtime/config.js'
import {storeDir} from '../../runtime/home.js'
import {KitCommand} from '../base.js'
import {registryFlags, registryOptions} from '../registry.js'
import {inspectV3, type V3Inspection} from '../../kit-compiler/v3/artifact.js'

export default class Inspect extends KitCommand {
  static override description =
    'Show a kit: manifest, annotations, normalised spec and the files of its layer. A name the local store has is read there; a registry reference (HOST[:PORT]/REPO[:TAG|@DIGEST|@RANGE]) the store lacks, or any reference with --remote, is read on its registry without pulling (manifest and config only: no files).'
  static override examples = [
    '<%= config.bin %> inspect my-mixin:1.2.3',
    '<%= config.bin %> inspect my-mixin:1.2.3 --json',
    '<%= config.bin %> inspect registry.example.com/team/my-mixin@^1.2',
    '<%= config.bin %> inspect registry.example.com/team/my-mixin:1.2.3 --remote',
  ]
  static override args = {reference: Args.string({description: 'NAME[:TAG], a digest, or a registry reference', required: true})}
  static override flags = {
    remote: Flags.boolean({description: 'Read REFERENCE on its registry even when the local store has that name (nothing is pulled).', default: false}),
    ...registryFlags,
  }

  async run(): Promise<(Omit<KitInspection, 'specText' | 'files'> & {files?: KitInspection['files']; source: 'store' | 'registry'}) | (V3Inspection & {source: 'store' | 'registry'})> {
    const {args, flags} = await this.parse(Inspect)
    const store = await OciLayoutStore.open(storeDir())
    let reader: ArtifactReader = store
    let source: 'store' | 'registry' = 'store'
    if (flags.remote || (isRegistryReference(args.reference) && !(await store.resolve(storeRef(args.reference)).then(() => true, () => false)))) {
      const {resolveRemote} = await import('../../registry-client/pull.js')
      const r = await resolveRemote(args.reference, {...(await registryOptions(flags)), ...(await pullPolicy())})
      reader = new RemoteReader(r.repository, r.descriptor)
      source = 'registry'
    }
    // Schema v3: an ordinary image whose manifest carries the kit descriptor annotation.
    const v3 = await inspectV3(reader, args.reference)
    if (v3) {
      if (!this.jsonEnabled()) {
        if (source === 'registry') this.log('Source:       registry (not pulled)')
        this.printV3(v3)
      }
      return {...v3, source}
    }
    const {specText: _authored, files, ...info} = await inspectKit(reader, args.reference, {files: source === 'store'})
    if (!this.jsonEnabled()) {
      if (source === 'registry') this.log('Source:       registry (not pulled)')
      this.log(`Reference:    ${info.reference}`)
      this.log(`Digest:       ${info.digest}`)
      this.log(`ArtifactType: ${info.artifactType}`)
      this.log(`Format:       ${info.format === 'v2' ? 'sbx OCI-v2 (spec in the config, files in a tar+gzip layer)' : "sbx v1 ZIP (spec.yaml and files/ in the layer; empty config)"}; spec.yaml schemaVersion "${info.schemaVersion}"`)
      this.log(`Config:       ${info.config.digest} (${info.config.size} bytes)`)
      this.log(`Layer:        ${info.layer.digest} (${info.layer.size} bytes, ${info.layer.mediaType})`)
      this.log('Annotations:')
      for (const [k, v] of Object.entries(info.annotations)) this.log(`  ${k}: ${v}`)
      this.log('Spec (normalised):')
      for (const line of JSON.stringify(info.spec, null, 2).split('\n')) this.log(`  ${line}`)
      if (source === 'registry') this.log('Files:        (in the layer on the registry; kit pull, then kit inspect, lists them)')
      else {
        this.log(`Files (${files.length}):`)
        for (const f of files) {
          const mode = (f.type === 'directory' ? 'd' : '-') + f.mode.toString(8).padStart(4, '0')
          this.log(`  ${mode} ${String(f.size).padStart(9)}  ${f.path}${f.type === 'directory' ? '/' : ''}`)
        }
      }
    }
    return source === 'store' ? {...info, files, source} : {...info, source}
  }

  private printV3(info: V3Inspection): void {
    this.log(`Reference:    ${info.reference}`)
    this.log(`Digest:       ${info.digest}`)
    this.log(`Schema:       v3 (${info.kind})${info.displayName ? `  ${info.displayName}` : ''}${info.version ? `  version ${info.version}` : ''}`)
    for (const k of ['provides', 'requires', 'integrates', 'conflicts'] as const) if (info[k].length) this.log(`${(k[0]!.toUpperCase() + k.slice(1) + ':').padEnd(14)}${info[k].join(', ')}`)
    this.log(`Capabilities (${info.capabilities.length}):`)
    const rows = info.capabilities.map((c) => [c.at, c.type, c.optional ? 'optional' : 'required', c.group ? `group ${c.group}` : '', c.name ?? c.description ?? ''])
    const widths = [0, 1, 2, 3].map((i) => Math.max(0, ...rows.map((r) => r[i]!.length)))
    for (const r of rows) this.log(`  ${r.map((cell, i) => (i < 4 ? cell.padEnd(widths[i]!) : cell)).join('  ').trimEnd()}`)
    if (info.args.length) {
      this.log(`Args (${info.args.length}):`)
      for (const a of info.args) {
        const rule = a.enum ? `one of ${a.enum.join('|')}` : a.pattern ? `pattern ${a.pattern}` : ''
        const where = a.buildArg ? `build arg ${a.buildArg}` : a.env ? `env ${a.env}` : 'private'
        this.log(`  ${a.name}  ${a.phase}  ${a.required ? 'required' : a.default !== undefined ? `default ${JSON.stringify(a.default)}` : 'optional'}  ${where}  ${rule}`.trimEnd())
      }
    }
    this.log(`Layers (${info.layers.length}):`)
    for (const l of info.layers) this.log(`  ${l.digest} (${l.size} bytes)`)
  }
}

/**
 * A reference that names a registry: its first path segment is a host (a dot, a port or
 * localhost), as docker decides it. Local store names (`my-mixin:1.2.3`, `team/x:1`) never are.
 */
export function isRegistryReference(reference: string): boolean {
  const slash = reference.indexOf('/')
  if (slash <= 0) return false
  const first = reference.slice(0, slash)
  return first === 'localhost' || first.includes('.') || first.includes(':')
}
