// A hostile OCI registry on 127.0.0.1 for tests: each repository name is one misbehaviour.
//   huge/x          HEAD of a manifest claims 8 GiB; GET sends a body that never ends
//   endless/x       no size on HEAD; GET sends a never-ending chunked body
//   lying/x         HEAD claims a small manifest; GET sends a never-ending body
//   loop/x          the tag list's Link rel="next" points back at the same page
//   pages/x         the tag list has a new page (new tags) for ever
//   redirect/x      manifests redirect to themselves
//   drip/x          a manifest whose body comes one byte every 500 ms
//   dripblob/x      a valid manifest whose layer comes one byte a second
//   badsize/x       a layer longer than its descriptor says (size mismatch)
//   baddigest/x     a layer whose bytes are not its descriptor's digest
//   ratelimit/x     every request answered 429 with Retry-After: 3600
// Every repository has the tag 1.0.0. Nothing here is a registry: just enough of the API.
import {createHash} from 'node:crypto'
import http from 'node:http'
import type {AddressInfo} from 'node:net'

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

export interface HostileRegistry {
  host: string
  /** Requests seen, per repository (to check a loop was cut short). */
  requests: Map<string, number>
  stop(): Promise<void>
}

function digest(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex')
}

/** A manifest with one config and one layer; `layer` overrides the layer descriptor. */
function artifact(layerBytes: Buffer, layer: Partial<{size: number; digest: string}> = {}) {
  const config = Buffer.from('schemaVersion: "2"\nkind: mixin\nname: hostile\n')
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      artifactType: 'application/vnd.docker.sandbox.kit.v2',
      config: {mediaType: 'application/vnd.docker.sandbox.kit.v2.spec+yaml', digest: digest(config), size: config.length},
      layers: [{mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest ?? digest(layerBytes), size: layer.size ?? layerBytes.length}],
    }),
  )
  return {manifest, config, layerBytes}
}

/** Writes chunks for ever (respecting back-pressure) until the client goes away. */
function endless(res: http.ServerResponse): void {
  const chunk = Buffer.alloc(64 * 1024, 0x7b)
  const pump = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump)
  }
  pump()
}

function drip(res: http.ServerResponse, bytes: Buffer, everyMs: number): void {
  let i = 0
  const timer = setInterval(() => {
    if (res.destroyed || i >= bytes.length) {
      clearInterval(timer)
      if (!res.destroyed) res.end()
      return
    }
    res.write(bytes.subarray(i, i + 1))
    i++
  }, everyMs)
  res.on('close', () => clearInterval(timer))
}

export async function startHostileRegistry(): Promise<HostileRegistry> {
  const requests = new Map<string, number>()
  const good = artifact(Buffer.from('a layer of twenty b\n'))
  const badsize = artifact(Buffer.from('a layer of twenty b\n'), {size: 5})
  const baddigest = artifact(Buffer.from('a layer of twenty b\n'), {digest: digest(Buffer.from('something else'))})
  const dripblob = artifact(Buffer.alloc(4096, 0x61))
  const byRepo: Record<string, ReturnType<typeof artifact>> = {drip: good, dripblob, badsize, baddigest}
  const sockets = new Set<import('node:net').Socket>()

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hostile')
    if (url.pathname === '/v2/' || url.pathname === '/v2') {
      res.writeHead(200, {'content-type': 'application/json'}).end('{}')
      return
    }
    const m = /^\/v2\/([a-z]+)\/x\/(manifests|blobs|tags)\/(.*)$/.exec(url.pathname)
    if (!m) {
      res.writeHead(404).end()
      return
    }
    const [, repo, kind, rest] = m as unknown as [string, string, string, string]
    requests.set(repo, (requests.get(repo) ?? 0) + 1)
    const head = req.method === 'HEAD'
    switch (repo) {
      case 'ratelimit':
        res.writeHead(429, {'retry-after': '3600', 'content-length': '0'}).end()
        return
      case 'redirect':
        res.writeHead(302, {location: req.url, 'content-length': '0'}).end()
        return
      case 'huge':
        if (kind !== 'manifests') break
        res.writeHead(200, {'content-type': MANIFEST, 'content-length': String(8 * 1024 ** 3), 'docker-content-digest': 'sha256:' + 'ab'.repeat(32)})
        if (head) res.end()
        else endless(res) // more than it claimed is never sent: the client must not wait for it
        return
      case 'endless':
        if (kind !== 'manifests') break
        if (head) {
          res.writeHead(200, {'content-type': MANIFEST}).end()
          return
        }
        res.writeHead(200, {'content-type': MANIFEST})
        endless(res)
        return
      case 'lying':
        if (kind !== 'manifests') break
        if (head) {
          res.writeHead(200, {'content-type': MANIFEST, 'content-length': String(good.manifest.length), 'docker-content-digest': digest(good.manifest)}).end()
          return
        }
        res.writeHead(200, {'content-type': MANIFEST})
        endless(res)
        return
      case 'loop':
      case 'pages':
        if (kind === 'tags') {
          const n = Number(url.searchParams.get('last') ?? '0')
          const next = repo === 'loop' ? `/v2/loop/x/tags/list?n=1000` : `/v2/pages/x/tags/list?n=1000&last=${n + 1}`
          res.writeHead(200, {'content-type': 'application/json', link: `<${next}>; rel="next"`}).end(JSON.stringify({name: `${repo}/x`, tags: [`0.${n}.0`]}))
          return
        }
        break
    }
    const a = byRepo[repo]
    if (!a) {
      res.writeHead(404, {'content-length': '0'}).end()
      return
    }
    if (kind === 'manifests') {
      const headers = {'content-type': MANIFEST, 'content-length': String(a.manifest.length), 'docker-content-digest': digest(a.manifest)}
      if (head) {
        res.writeHead(200, headers).end()
        return
      }
      res.writeHead(200, headers)
      if (repo === 'drip') drip(res, a.manifest, 500)
      else res.end(a.manifest)
      return
    }
    if (kind === 'blobs') {
      const want = rest
      const body = want === digest(a.config) ? a.config : a.layerBytes
      if (head) {
        res.writeHead(want === digest(a.config) || want === a.manifest.toString().match(/"layers":\[\{[^}]*"digest":"([^"]+)"/)?.[1] ? 200 : 404, {'content-length': String(body.length)}).end()
        return
      }
      res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': String(body.length)})
      if (repo === 'dripblob' && body === a.layerBytes) drip(res, body, 1000)
      else res.end(body)
      return
    }
    res.writeHead(404, {'content-length': '0'}).end()
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    host: `127.0.0.1:${port}`,
    requests,
    stop: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
