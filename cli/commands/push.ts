import {stat} from 'node:fs/promises'
import {Args, Flags} from '@oclif/core'
import type {Descriptor} from '../../registry-client/descriptor.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {push} from '../../registry-client/publish.js'
import {storeDir} from '../../runtime/home.js'
import {KitCommand} from '../base.js'
import {blobSources, progress, quietFlag, registryFlags, registryOptions} from '../registry.js'
import {formatBytes} from '../units.js'

export default class Push extends KitCommand {
  static override description =
    'Push a kit to a registry: SRC is a kit directory (built first) or a local-store reference. Pushing x.y.z also moves x.y, x and latest forward.'
  static override examples = [
    '<%= config.bin %> push ./my-mixin registry.example.com/team/my-mixin:1.4.2',
    '<%= config.bin %> push my-mixin:1.4.2 registry.example.com/team/my-mixin:1.4.2 --json',
  ]
  static override args = {
    src: Args.string({description: 'kit directory or local-store reference', required: true}),
    dest: Args.string({description: 'registry/repository[:tag] (no tag: the kit version)', required: true}),
  }
  static override flags = {
    force: Flags.boolean({description: 'Re-point an existing version tag to different content.', default: false}),
    sign: Flags.boolean({description: 'Sign the pushed digest (Sigstore bundle attached as a referrer); needs --key', default: false}),
    key: Flags.string({description: 'Private key for --sign/--provenance (NAME.key); passphrase from KIT_KEY_PASSWORD or stdin'}),
    provenance: Flags.boolean({description: 'Attach signed SLSA provenance of the build (SRC must be a kit directory); needs --key', default: false}),
    ...registryFlags,
    ...quietFlag,
  }

  async run(): Promise<{reference: string; digest: string; tags: string[]; bytesUploaded: number; blobsSkipped: number; warnings: string[]; signature?: {referrer: string}; provenance?: {referrer: string}}> {
    const {args, flags} = await this.parse(Push)
    const store = await OciLayoutStore.open(storeDir())
    const isDir = await stat(args.src).then((s) => s.isDirectory(), () => false)
    // --sign/--provenance (runtime/trust): the key is decrypted before anything is pushed.
    const signer = flags.sign || flags.provenance
      ? await (await import('../../runtime/trust/operations.js')).preparePushSigning({...(await registryOptions(flags)), sign: flags.sign, keyPath: flags.key, provenance: flags.provenance, kitDir: isDir ? args.src : undefined})
      : undefined
    // The kit compiler loads only when SRC is a directory (it is the heavy part of start-up).
    // A directory is built into the store before the push; what its tag pointed at before is put
    // back when the registry refuses the push (TAG_EXISTS) or the push fails, so a failed push
    // leaves the local store's names as they were.
    const before = isDir ? new Map((await store.list()).map((r) => [r.reference, r.descriptor])) : undefined
    const v3 = isDir && (await (await import('../../kit-compiler/v3/source.js')).findV3Descriptor(args.src)) !== undefined
    const srcRef = !isDir ? args.src
      : v3 ? (await (await import('../../kit-compiler/v3/build.js')).buildV3(args.src, {store})).reference
      : (await (await import('../../kit-compiler/build.js')).buildKit(args.src, {store})).reference
    const bar = progress(`pushing ${args.dest}`, {active: 'pushing', done: 'pushed'}, {json: this.jsonEnabled(), quiet: flags.quiet})
    let r
    try {
      r = await push(store, srcRef, args.dest, {
        ...(await registryOptions(flags)),
        force: flags.force,
        versionAnnotations: ['vnd.docker.sandbox.kit.version', 'org.opencontainers.image.version'],
        onProgress: bar.onProgress,
        blobSources: await blobSources(),
      })
    } catch (err) {
      if (before) await restoreTag(store, srcRef, before.get(srcRef))
      throw err
    } finally {
      bar.done()
    }
    const signed = signer ? await signer(r.reference, r.digest) : undefined
    if (!this.jsonEnabled()) for (const w of r.warnings) process.stderr.write(`kit: warning: ${w}\n`)
    if (!this.jsonEnabled()) {
      this.log(`${r.reference} ${r.digest}`)
      this.log(`tags: ${r.tags.join(', ') || '(none)'}; ${formatBytes(r.bytesUploaded)} uploaded, ${r.blobsSkipped} already present`)
      if (signed) this.log(`signed with ${signed.keyId}${signed.provenance ? ', provenance attached' : ''}`)
    }
    return {
      reference: r.reference, digest: r.digest, tags: r.tags, bytesUploaded: r.bytesUploaded, blobsSkipped: r.blobsSkipped, warnings: r.warnings,
      ...(signed ? {signature: signed.signature, ...(signed.provenance ? {provenance: signed.provenance} : {})} : {}),
    }
  }
}

/** Puts a store reference back where it was (or removes it when it did not exist). */
async function restoreTag(store: OciLayoutStore, reference: string, previous: Descriptor | undefined): Promise<void> {
  const now = await store.resolve(reference).catch(() => undefined)
  if (previous === undefined) {
    if (now) await store.untag(reference)
  } else if (now?.digest !== previous.digest) {
    await store.tag(previous, reference)
  }
}
