// Checks a local store (an OCI layout) the way a user would want it after anything: every blob
// file hashes to its name, every reference's graph (manifest, index children, config, layers) is
// present, and no temp file is left behind. Returns the problems, one line each (empty: healthy).
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {readdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'

const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
])

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer)
  return 'sha256:' + h.digest('hex')
}

export async function checkStore(dir: string, opts: {allowTemps?: boolean} = {}): Promise<string[]> {
  const problems: string[] = []
  const blobDir = join(dir, 'blobs', 'sha256')
  const present = new Set<string>()
  for (const name of await readdir(blobDir).catch(() => [] as string[])) {
    if (name.startsWith('.tmp-')) {
      if (!opts.allowTemps) problems.push(`temp file left: ${name}`)
      continue
    }
    const actual = await sha256File(join(blobDir, name)).catch(() => undefined)
    if (actual === undefined) continue // removed meanwhile
    if (actual !== 'sha256:' + name) problems.push(`blob ${name} hashes to ${actual}`)
    present.add('sha256:' + name)
  }
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as {manifests: Array<{digest: string; size: number; mediaType: string; annotations?: Record<string, string>}>}
  for (const entry of index.manifests) {
    const ref = entry.annotations?.['org.opencontainers.image.ref.name'] ?? entry.digest
    const walk = async (d: {digest: string; size: number; mediaType: string}): Promise<void> => {
      if (!present.has(d.digest)) {
        problems.push(`${ref}: ${d.digest} (${d.mediaType}) is missing`)
        return
      }
      if (!MANIFEST_TYPES.has(d.mediaType)) return
      const m = JSON.parse(await readFile(join(blobDir, d.digest.slice(7)), 'utf8')) as {config?: typeof d; layers?: Array<typeof d>; manifests?: Array<typeof d>}
      for (const c of [...(m.config ? [m.config] : []), ...(m.layers ?? []), ...(m.manifests ?? [])]) await walk(c)
    }
    await walk(entry)
  }
  return problems
}
