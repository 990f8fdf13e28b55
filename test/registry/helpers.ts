// Shared test helpers for registry-client tests.
import {describe as describeBytes, type Descriptor, MediaType} from '../../registry-client/index.js'

/** A small artifact: config + one layer + manifest, pushed into `store`. */
export async function pushArtifact(
  store: {push(d: Descriptor, c: Uint8Array): Promise<void>},
  seed: string,
  extra: Record<string, unknown> = {},
): Promise<{manifest: Descriptor; config: Descriptor; layer: Descriptor; bytes: Buffer}> {
  const configBytes = Buffer.from(`name: ${seed}\n`)
  const layerBytes = Buffer.from(`layer of ${seed}`)
  const config = describeBytes('application/vnd.docker.sandbox.kit.v2.spec+yaml', configBytes)
  const layer = describeBytes(MediaType.OciLayerTarGzip, layerBytes)
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: 'application/vnd.docker.sandbox.kit.v2',
      config,
      layers: [layer],
      annotations: {'org.opencontainers.image.title': seed},
      ...extra,
    }),
  )
  const manifest = describeBytes(MediaType.OciManifest, bytes)
  await store.push(config, configBytes)
  await store.push(layer, layerBytes)
  await store.push(manifest, bytes)
  return {manifest, config, layer, bytes}
}

