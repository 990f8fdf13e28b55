// A repository on a registry, speaking the OCI distribution spec v1.1. It implements the same
// Target interfaces as the local store, so push and pull are copy() between the two.
//
// Blobs: HEAD for exists; GET streamed through verification, resumed with a Range request when
// the connection drops mid-blob; uploads are POST + one streamed PUT, or POST + PATCH chunks + PUT
// for large blobs (and as a fallback when a monolithic upload of in-memory content is refused);
// cross-repository mount. Manifests: PUT with Content-Type equal to the manifest's media type, GET
// with the full Accept list. Tags: paginated with Link. Referrers: the API, or the tag schema
// (`sha256-<hex>` index) on registries without it, which push() then maintains.
import type {Readable, Writable} from 'node:stream'
import {repositoryScope} from './auth.js'
import {type Call, type ClientOptions, RegistryClient} from './client.js'
import {type Descriptor, digestHex, isDigest, isManifest, MANIFEST_MEDIA_TYPES, MediaType, sha256} from './descriptor.js'
import {HttpStatusError, NetworkError, NotFoundError, RegistryClientError, SizeMismatchError} from './errors.js'
import {discard, header, type HttpResponse, readBody} from './http.js'
import {manifestMediaType, parseManifest, referrerDescriptor} from './manifest.js'
import {parseReference, type Reference} from './reference.js'
import {backoffMs, isRetryableNetworkError, markRetryable, sleep} from './retry.js'
import type {Deleter, Mounter, ReferencePusher, ReferrerLister, TagLister, Target} from './target.js'
import {alreadyVerified, fromBytes, MAX_METADATA_BYTES, readAll, VerifyStream, verifyBytes} from './verify.js'

export interface RemoteOptions extends ClientOptions {
  /** Blobs larger than this are uploaded in PATCH chunks (default 512 MiB). */
  chunkThreshold?: number
  /** Size of one PATCH chunk (default 32 MiB; each chunk is held in memory so it can be re-sent). */
  chunkSize?: number
  /** Page size asked for when listing tags (default 1000). */
  tagPageSize?: number
}

const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ')
/** A manifest, index or tag-list page must arrive whole within this long (a dripping registry). */
export const METADATA_DEADLINE_MS = 20_000
/** Tag listing: at most this many pages, tags and seconds, whatever Link headers say. */
export const MAX_TAG_PAGES = 1000
export const MAX_TAGS = 100_000
export const TAG_LIST_BUDGET_MS = 60_000
/** A blob download that moves fewer than LOW_SPEED_BYTES in LOW_SPEED_MS is given up (a drip). */
export const LOW_SPEED_BYTES = 1024
export const LOW_SPEED_MS = 15_000
const DEFAULT_CHUNK_THRESHOLD = 512 * 1024 * 1024
const DEFAULT_CHUNK_SIZE = 32 * 1024 * 1024

export class RemoteRepository implements Target, TagLister, ReferrerLister, Deleter, ReferencePusher, Mounter {
  readonly client: RegistryClient
  /** undefined until known; false once a registry answered the referrers API with 404. */
  private referrersApi: boolean | undefined

  constructor(
    /** registry + repository (a tag or digest in it is ignored). */
    readonly ref: Reference,
    private readonly opts: RemoteOptions = {},
  ) {
    this.client = RegistryClient.for(ref.apiHost, ref.registry, opts)
  }

  /** A repository from a string reference ("host/team/x[:tag]"). */
  static open(reference: string, opts: RemoteOptions = {}): RemoteRepository {
    return new RemoteRepository(parseReference(reference), opts)
  }

  get repository(): string {
    return this.ref.repository
  }

  private get name(): string {
    return this.ref.name
  }

  private path(kind: 'blobs' | 'manifests' | 'tags' | 'referrers' | 'uploads', rest = ''): string {
    const repo = this.ref.repository
    switch (kind) {
      case 'uploads':
        return `/v2/${repo}/blobs/uploads/${rest}`
      case 'tags':
        return `/v2/${repo}/tags/list${rest}`
      default:
        return `/v2/${repo}/${kind}/${rest}`
    }
  }

  private pullScope(): string[] {
    return [repositoryScope(this.ref.repository, ['pull'])]
  }

  private pushScope(): string[] {
    return [repositoryScope(this.ref.repository, ['pull', 'push'])]
  }

  private call(c: Omit<Call, 'scopes'> & {scopes?: string[]}): Promise<HttpResponse> {
    return this.client.request({scopes: this.pullScope(), ...c})
  }

  // ---- ReadOnlyStorage ----------------------------------------------------------------------

  async exists(desc: Descriptor): Promise<boolean> {
    const manifest = isManifest(desc.mediaType)
    const res = await this.call({
      method: 'HEAD',
      path: this.path(manifest ? 'manifests' : 'blobs', desc.digest),
      headers: manifest ? {accept: MANIFEST_ACCEPT} : {},
      reference: `${this.name}@${desc.digest}`,
      operation: 'check',
      expect: [200, 404],
    })
    discard(res)
    return res.status === 200
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    if (isManifest(desc.mediaType)) {
      if (desc.size > MAX_METADATA_BYTES) throw tooLarge(`${this.name}@${desc.digest}`, desc.size)
      return fromBytes(await this.fetchManifest(desc.digest, desc))
    }
    // The response bodies are written straight into the verifying stream (no pass-through stage:
    // each stage per chunk is allocation and scheduling on a path that carries every byte). A
    // consumer that gives up (destroys the stream) stops the download too: pumpBlob checks.
    const verify = new VerifyStream(desc)
    this.pumpBlob(desc, verify).then(
      () => verify.end(),
      (err) => verify.destroy(err as Error),
    )
    return verify
  }

  /** Streams a blob into `out`, resuming with Range after a dropped or truncated response. */
  private async pumpBlob(desc: Descriptor, out: Writable): Promise<void> {
    const reference = `${this.name}@${desc.digest}`
    let received = 0
    let failures = 0
    // A registry that drips bytes (or none) keeps a socket alive for ever: give up on a blob that
    // moves fewer than LOW_SPEED_BYTES in LOW_SPEED_MS.
    let current: HttpResponse | undefined
    let stalled: NetworkError | undefined
    let mark = 0
    const watchdog = setInterval(() => {
      if (received - mark < LOW_SPEED_BYTES && received < desc.size) {
        stalled = new NetworkError(reference, 'fetch blob', new Error(`stalled: ${received - mark} bytes in ${LOW_SPEED_MS / 1000} s (${received} of ${desc.size} received)`))
        current?.body.destroy(stalled)
      }
      mark = received
    }, LOW_SPEED_MS)
    try {
      for (;;) {
        if (stalled) throw stalled
        if (out.destroyed) return
        const headers: Record<string, string> = {}
        if (received > 0) headers.range = `bytes=${received}-`
        const res = await this.call({method: 'GET', path: this.path('blobs', desc.digest), headers, reference, operation: 'fetch blob', expect: [200, 206, 404]})
        current = res
        if (stalled) {
          res.body.destroy()
          throw stalled
        }
        if (res.status === 404) {
          discard(res)
          throw new NotFoundError(`${reference}: blob not found`, reference)
        }
        let skip = received > 0 && res.status === 200 ? received : 0
        const before = received
        try {
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            if (out.destroyed) {
              res.body.destroy()
              return
            }
            let c = chunk
            if (skip > 0) {
              if (c.length <= skip) {
                skip -= c.length
                continue
              }
              c = c.subarray(skip)
              skip = 0
            }
            received += c.length
            if (!out.write(c)) await drained(out)
          }
        } catch (err) {
          if (stalled) throw stalled
          if (!isRetryableNetworkError(err) || out.destroyed) throw new NetworkError(reference, 'fetch blob', err)
          if (received === before) failures++
          if (failures > this.client.policy.retries) throw new NetworkError(reference, 'fetch blob', err)
          await sleep(backoffMs(failures, this.client.policy))
          continue
        }
        if (received >= desc.size) return
        // The body ended early with no error (a truncated response): ask for the rest.
        if (received === before) failures++
        if (failures > this.client.policy.retries) throw new SizeMismatchError(desc.size, received, desc.digest)
        await sleep(backoffMs(failures, this.client.policy))
      }
    } finally {
      clearInterval(watchdog)
    }
  }

  private async fetchManifest(reference: string, desc?: Descriptor): Promise<Buffer> {
    const full = `${this.name}${isDigest(reference) ? '@' : ':'}${reference}`
    // A body cut short (a dropped connection, a truncated response) is fetched again.
    return this.withBodyRetry(full, 'fetch manifest', async () => {
      const res = await this.call({
        method: 'GET',
        path: this.path('manifests', reference),
        headers: {accept: MANIFEST_ACCEPT},
        reference: full,
        operation: 'fetch manifest',
        expect: [200, 404],
      })
      if (res.status === 404) {
        discard(res)
        throw new NotFoundError(`${full}: manifest not found`, full)
      }
      const bytes = await readBody(res, MAX_METADATA_BYTES, {what: `manifest ${full}`, deadlineMs: METADATA_DEADLINE_MS})
      const length = Number(header(res, 'content-length'))
      if (Number.isFinite(length) && bytes.byteLength !== length) throw new SizeMismatchError(length, bytes.byteLength, reference)
      if (desc) verifyBytes(bytes, desc)
      else if (isDigest(reference)) verifyBytes(bytes, {digest: reference, size: bytes.byteLength})
      return bytes
    })
  }

  /** Runs a request whose body is read whole, again while it fails on the network or comes short. */
  private async withBodyRetry<T>(reference: string, operation: string, fn: () => Promise<T>): Promise<T> {
    const policy = this.client.policy
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn()
      } catch (err) {
        const transient = err instanceof SizeMismatchError || (isRetryableNetworkError(err) && !(err instanceof HttpStatusError))
        if (!transient || attempt >= policy.retries) {
          if (transient && !(err instanceof SizeMismatchError) && !(err instanceof NetworkError)) throw new NetworkError(reference, operation, err)
          throw err
        }
        await sleep(backoffMs(attempt, policy))
      }
    }
  }

  // ---- Resolver / Tagger / ReferencePusher --------------------------------------------------

  async resolve(reference: string): Promise<Descriptor> {
    const full = `${this.name}${isDigest(reference) ? '@' : ':'}${reference}`
    const res = await this.call({
      method: 'HEAD',
      path: this.path('manifests', reference),
      headers: {accept: MANIFEST_ACCEPT},
      reference: full,
      operation: 'resolve',
      expect: [200, 404],
    })
    discard(res)
    if (res.status === 404) throw new NotFoundError(`${full}: not found`, full)
    const digest = header(res, 'docker-content-digest')
    const size = Number(header(res, 'content-length'))
    if (Number.isFinite(size) && size > MAX_METADATA_BYTES) throw tooLarge(full, size)
    const mediaType = (header(res, 'content-type') ?? '').split(';')[0].trim()
    if (digest && isDigest(digest) && Number.isFinite(size) && isManifest(mediaType)) {
      if (isDigest(reference) && digest !== reference) throw new NotFoundError(`${full}: registry answered with ${digest}`, full)
      return {mediaType, digest, size}
    }
    const bytes = await this.fetchManifest(reference)
    return {mediaType: manifestMediaType(parseManifest(bytes, full)), digest: sha256(bytes), size: bytes.byteLength}
  }

  async tag(desc: Descriptor, reference: string): Promise<void> {
    const bytes = await this.fetchManifest(desc.digest, desc)
    await this.pushReference(desc, bytes, reference)
  }

  async pushReference(expected: Descriptor, content: Readable | Uint8Array, reference: string): Promise<void> {
    const bytes = content instanceof Uint8Array ? Buffer.from(content) : await readAll(content, expected)
    verifyBytes(bytes, expected)
    await this.putManifest(expected, bytes, reference)
  }

  private async putManifest(expected: Descriptor, bytes: Buffer, reference: string): Promise<void> {
    const full = `${this.name}${isDigest(reference) ? '@' : ':'}${reference}`
    const res = await this.call({
      method: 'PUT',
      path: this.path('manifests', reference),
      headers: {'content-type': expected.mediaType},
      body: bytes,
      scopes: this.pushScope(),
      reference: full,
      operation: 'push manifest',
      expect: [200, 201],
    })
    discard(res)
    const m = parseManifest(bytes, full)
    if (m.subject && header(res, 'oci-subject') === undefined) {
      await this.indexReferrerByTag(m.subject, referrerDescriptor(expected, m))
    }
  }

  // ---- Pusher / Mounter ---------------------------------------------------------------------

  async push(expected: Descriptor, content: Readable | Uint8Array): Promise<void> {
    if (isManifest(expected.mediaType)) {
      const bytes = content instanceof Uint8Array ? Buffer.from(content) : await readAll(content, expected)
      verifyBytes(bytes, expected)
      await this.putManifest(expected, bytes, expected.digest)
      return
    }
    const reference = `${this.name}@${expected.digest}`
    const threshold = this.opts.chunkThreshold ?? DEFAULT_CHUNK_THRESHOLD
    const location = await this.startUpload(reference)
    if (content instanceof Uint8Array) {
      const bytes = Buffer.from(content.buffer, content.byteOffset, content.byteLength)
      verifyBytes(bytes, expected)
      if (expected.size <= threshold && !this.client.monolithicRefused) {
        try {
          await this.finishUpload(location, expected, bytes, reference)
          return
        } catch (err) {
          if (!refusesMonolithic(err)) throw err
          // A registry that refuses monolithic uploads: start again in chunks.
          this.client.monolithicRefused = true
          await this.chunkedUpload(await this.startUpload(reference), expected, fromBytes(bytes), reference)
          return
        }
      }
      await this.chunkedUpload(location, expected, fromBytes(bytes), reference)
      return
    }
    let verified: Readable = content
    if (!alreadyVerified(content, expected)) {
      verified = content.pipe(new VerifyStream(expected))
      content.on('error', (err) => verified.destroy(err))
    }
    if (expected.size > threshold || this.client.monolithicRefused) {
      await this.chunkedUpload(location, expected, verified, reference)
      return
    }
    try {
      await this.finishUpload(location, expected, verified, reference)
    } catch (err) {
      if (!refusesMonolithic(err)) throw err
      // The stream is spent: remember to upload in chunks here, and let copy() start over.
      this.client.monolithicRefused = true
      throw markRetryable(err as Error)
    }
  }

  private async startUpload(reference: string, query = ''): Promise<URL> {
    const res = await this.call({
      method: 'POST',
      path: this.path('uploads', query),
      headers: {'content-length': '0'},
      scopes: this.pushScope(),
      reference,
      operation: 'start upload of',
      expect: [202],
    })
    discard(res)
    return this.location(res, reference)
  }

  private location(res: HttpResponse, reference: string): URL {
    const value = header(res, 'location')
    if (!value) throw new HttpStatusError(res.status, reference, 'upload', 'registry sent no Location')
    return new URL(value, res.url)
  }

  private async finishUpload(location: URL, expected: Descriptor, body: Buffer | Readable, reference: string): Promise<void> {
    const url = new URL(location)
    url.searchParams.set('digest', expected.digest)
    const res = await this.call({
      method: 'PUT',
      path: url.href,
      headers: {'content-type': 'application/octet-stream', 'content-length': String(Buffer.isBuffer(body) ? body.length : expected.size)},
      body,
      scopes: this.pushScope(),
      reference,
      operation: 'push blob',
      expect: [201],
    })
    discard(res)
  }

  private async chunkedUpload(location: URL, expected: Descriptor, content: Readable, reference: string): Promise<void> {
    const chunkSize = this.opts.chunkSize ?? DEFAULT_CHUNK_SIZE
    let offset = 0
    let pending: Buffer[] = []
    let pendingBytes = 0
    const flush = async () => {
      const chunk = Buffer.concat(pending, pendingBytes)
      pending = []
      pendingBytes = 0
      const res = await this.call({
        method: 'PATCH',
        path: location.href,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${offset}-${offset + chunk.length - 1}`,
        },
        body: chunk,
        scopes: this.pushScope(),
        reference,
        operation: 'push blob chunk of',
        expect: [202],
      })
      discard(res)
      offset += chunk.length
      location = this.location(res, reference)
    }
    for await (const data of content as AsyncIterable<Buffer>) {
      let rest = data
      while (rest.length > 0) {
        const take = Math.min(rest.length, chunkSize - pendingBytes)
        pending.push(rest.subarray(0, take))
        pendingBytes += take
        rest = rest.subarray(take)
        if (pendingBytes === chunkSize) await flush()
      }
    }
    if (pendingBytes > 0) await flush()
    await this.finishUpload(location, expected, Buffer.alloc(0), reference)
  }

  async mount(desc: Descriptor, fromRepository: string): Promise<boolean> {
    const reference = `${this.name}@${desc.digest}`
    const query = `?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(fromRepository)}`
    const res = await this.call({
      method: 'POST',
      path: this.path('uploads', query),
      headers: {'content-length': '0'},
      scopes: [...this.pushScope(), repositoryScope(fromRepository, ['pull'])],
      reference,
      operation: 'mount',
      expect: [201, 202],
    })
    discard(res)
    if (res.status === 201) return true
    // Not mounted: the registry opened an upload session instead; close it.
    const session = header(res, 'location')
    if (session) {
      await this.call({method: 'DELETE', path: new URL(session, res.url).href, scopes: this.pushScope(), reference, operation: 'cancel upload', expect: [204, 404, 400, 405]})
        .then(discard)
        .catch(() => undefined)
    }
    return false
  }

  // ---- TagLister ----------------------------------------------------------------------------

  /** `missing: 'error'`: a repository the registry does not know is a NotFoundError, not []. */
  async tags(opts: {missing?: 'empty' | 'error'} = {}): Promise<string[]> {
    const n = this.opts.tagPageSize ?? 1000
    const out: string[] = []
    let path: string | undefined = this.path('tags', `?n=${n}`)
    const visited = new Set<string>()
    const started = Date.now()
    const refuse = (why: string) => new RegistryClientError('TAG_LIST_LIMIT', `list tags of ${this.name}: ${why}; kit stopped after ${visited.size} pages and ${out.length} tags`)
    while (path) {
      const page: string = path
      // Link URLs are relative to the registry: compare them resolved, without the fragment.
      const key = new URL(page, 'http://registry.invalid').href.replace(/#.*$/, '')
      if (visited.has(key)) throw refuse(`the registry's Link header loops back to a page already read (${page})`)
      if (visited.size >= MAX_TAG_PAGES) throw refuse(`more than ${MAX_TAG_PAGES} pages`)
      if (Date.now() - started > TAG_LIST_BUDGET_MS) throw refuse(`over the ${TAG_LIST_BUDGET_MS / 1000} s time budget`)
      visited.add(key)
      const got = await this.withBodyRetry(this.name, 'list tags of', async () => {
        const res: HttpResponse = await this.call({method: 'GET', path: page, reference: this.name, operation: 'list tags of', expect: [200, 404]})
        if (res.status === 404) {
          discard(res)
          if (opts.missing === 'error' && out.length === 0) throw new NotFoundError(`${this.name}: no such repository on the registry`, this.name)
          return undefined
        }
        const bytes = await readBody(res, MAX_METADATA_BYTES, {what: `tag list of ${this.name}`, deadlineMs: METADATA_DEADLINE_MS})
        const length = Number(header(res, 'content-length'))
        if (Number.isFinite(length) && bytes.byteLength !== length) throw new SizeMismatchError(length, bytes.byteLength)
        let body: {tags?: string[] | null}
        try {
          body = JSON.parse(bytes.toString('utf8')) as typeof body
        } catch {
          throw new RegistryClientError('INVALID_RESPONSE', `list tags of ${this.name}: the registry answered with no JSON`)
        }
        return {tags: body.tags ?? [], next: nextLink(header(res, 'link'))}
      })
      if (!got) return out
      if (!Array.isArray(got.tags) || got.tags.some((t) => typeof t !== 'string')) throw new RegistryClientError('INVALID_RESPONSE', `list tags of ${this.name}: "tags" is not a list of strings`)
      out.push(...got.tags)
      if (out.length > MAX_TAGS) throw refuse(`more than ${MAX_TAGS} tags`)
      path = got.next
    }
    return out
  }

  // ---- ReferrerLister -----------------------------------------------------------------------

  async referrers(subject: Descriptor, artifactType?: string): Promise<Descriptor[]> {
    let list: Descriptor[] | undefined
    if (this.referrersApi !== false) {
      const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : ''
      const res = await this.call({
        method: 'GET',
        path: this.path('referrers', subject.digest + query),
        headers: {accept: MediaType.OciIndex},
        reference: `${this.name}@${subject.digest}`,
        operation: 'list referrers of',
        expect: [200, 404, 400, 405],
      })
      const type = (header(res, 'content-type') ?? '').split(';')[0].trim()
      if (res.status === 200 && type === MediaType.OciIndex) {
        this.referrersApi = true
        list = parseManifest(await readBody(res, MAX_METADATA_BYTES, {what: `referrers of ${this.name}@${subject.digest}`, deadlineMs: METADATA_DEADLINE_MS}), 'referrers').manifests ?? []
      } else {
        discard(res)
        this.referrersApi = false
      }
    }
    if (list === undefined) list = await this.referrersByTag(subject)
    return list.filter((d) => artifactType === undefined || d.artifactType === artifactType)
  }

  /** The tag-schema fallback: an index tagged sha256-<hex> lists the subject's referrers. */
  private async referrersByTag(subject: Pick<Descriptor, 'digest'>): Promise<Descriptor[]> {
    try {
      const bytes = await this.fetchManifest(referrersTag(subject.digest))
      return parseManifest(bytes, 'referrers index').manifests ?? []
    } catch (err) {
      if (err instanceof NotFoundError) return []
      throw err
    }
  }

  private async indexReferrerByTag(subject: Descriptor, referrer: Descriptor): Promise<void> {
    const current = await this.referrersByTag(subject)
    if (current.some((d) => d.digest === referrer.digest)) return
    const index = {schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [...current, referrer]}
    const bytes = Buffer.from(JSON.stringify(index))
    const desc: Descriptor = {mediaType: MediaType.OciIndex, digest: sha256(bytes), size: bytes.length}
    await this.putManifest(desc, bytes, referrersTag(subject.digest))
  }

  // ---- Deleter ------------------------------------------------------------------------------

  async delete(desc: Descriptor): Promise<void> {
    const manifest = isManifest(desc.mediaType)
    const reference = `${this.name}@${desc.digest}`
    const res = await this.call({
      method: 'DELETE',
      path: this.path(manifest ? 'manifests' : 'blobs', desc.digest),
      scopes: [repositoryScope(this.ref.repository, ['delete', 'pull', 'push'])],
      reference,
      operation: 'delete',
      expect: [202, 404],
    })
    discard(res)
    if (res.status === 404) throw new NotFoundError(`${reference}: not found`, reference)
  }
}

function tooLarge(reference: string, size: number): RegistryClientError {
  return new RegistryClientError('TOO_LARGE', `manifest ${reference}: the registry says it is ${size} bytes, over the limit of ${MAX_METADATA_BYTES} bytes (4 MiB)`)
}

/** A monolithic PUT refused for its shape (not for auth or a bad digest): worth trying in chunks. */
function refusesMonolithic(err: unknown): boolean {
  return err instanceof HttpStatusError && [400, 405, 411, 413, 416].includes(err.status) && !/DIGEST_INVALID|SIZE_INVALID/.test(err.message)
}

/** The tag-schema fallback tag for a subject: "sha256-<hex>". */
export function referrersTag(digest: string): string {
  return `sha256-${digestHex(digest)}`
}

/** The URL of rel="next" in a Link header, if any. */
export function nextLink(link: string | undefined): string | undefined {
  if (!link) return undefined
  for (const part of link.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part.trim())
    if (m) return m[1]
  }
  return undefined
}

/** Pings /v2/ with whatever credentials the options give; throws HttpStatusError when refused. */
export async function ping(registry: string, opts: ClientOptions = {}): Promise<void> {
  const ref = parseReference(`${registry}/ping`)
  const client = new RegistryClient(ref.apiHost, ref.registry, opts)
  const res = await client.request({method: 'GET', path: '/v2/', scopes: [], reference: registry, operation: 'log in to', expect: [200]})
  discard(res)
}

/** Resolves when `stream` drains or closes (no listeners left behind). */
function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done)
      stream.off('close', done)
      resolve()
    }
    stream.on('drain', done)
    stream.on('close', done)
  })
}
