import {Args} from '@oclif/core'
import {inspectKit, type KitInspection} from '../../kit-compiler/artifact.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {storeDir} from '../../runtime/home.js'
import {KitCommand} from '../base.js'

export default class Inspect extends KitCommand {
  static override description = 'Show a kit in the local store: manifest, annotations, normalised spec and the files of its layer.'
  static override examples = ['<%= config.bin %> inspect my-mixin:1.2.3', '<%= config.bin %> inspect my-mixin:1.2.3 --json']
  static override args = {reference: Args.string({description: 'NAME[:TAG] or a digest', required: true})}

  async run(): Promise<Omit<KitInspection, 'specText'>> {
    const {args} = await this.parse(Inspect)
    const store = await OciLayoutStore.open(storeDir())
    const {specText: _authored, ...info} = await inspectKit(store, args.reference)
    if (!this.jsonEnabled()) {
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
      this.log(`Files (${info.files.length}):`)
      for (const f of info.files) {
        const mode = (f.type === 'directory' ? 'd' : '-') + f.mode.toString(8).padStart(4, '0')
        this.log(`  ${mode} ${String(f.size).padStart(9)}  ${f.path}${f.type === 'directory' ? '/' : ''}`)
      }
    }
    return info
  }
}
