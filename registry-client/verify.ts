// Verification lives in the read path: every fetch, from a registry or a local store, passes
// through a VerifyStream that counts bytes and hashes them, and fails the stream (before the
// last byte is handed on) when the size or the digest is not the descriptor's.
import {createHash, type Hash} from 'node:crypto'
import {Readable, Transform, type TransformCallback} from 'node:stream'
import type {Descriptor} from './descriptor.js'
import {DigestMismatchError, RegistryClientError, SizeMismatchError} from './errors.js'

/**
 * Marks a stream whose content is already being verified against a descriptor (a VerifyStream, or
 * a pass-through fed by one): it fails before its end if the bytes are not that descriptor's, so a
 * consumer need not hash them a second time.
 */
export const VERIFIED = Symbol('kit.verified')

type Marked = {[VERIFIED]?: Pick<Descriptor, 'digest' | 'size'>}

/** True when `content` already verifies exactly `desc` (see VERIFIED). */
export function alreadyVerified(content: unknown, desc: Pick<Descriptor, 'digest' | 'size'>): boolean {
  const v = (content as Marked | null)?.[VERIFIED]
  return v !== undefined && v.digest === desc.digest && v.size === desc.size
}

/** Marks `stream` as carrying the verified content of `from` (a pass-through fed by it). */
export function markVerified<S extends Readable>(stream: S, from: unknown): S {
  const v = (from as Marked | null)?.[VERIFIED]
  if (v) (stream as S & Marked)[VERIFIED] = v
  return stream
}

/** A pass-through that fails with SizeMismatchError/DigestMismatchError when content is not `desc`. */
export class VerifyStream extends Transform {
  private readonly hash: Hash = createHash('sha256')
  private seen = 0
  readonly [VERIFIED]: Pick<Descriptor, 'digest' | 'size'>
  constructor(private readonly desc: Pick<Descriptor, 'digest' | 'size'>) {
    super()
    if (!desc.digest.startsWith('sha256:')) throw new Error(`unsupported digest algorithm in ${desc.digest}`)
    this[VERIFIED] = {digest: desc.digest, size: desc.size}
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length
    if (this.seen > this.desc.size) {
      callback(new SizeMismatchError(this.desc.size, this.seen, this.desc.digest))
      return
    }
    this.hash.update(chunk)
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    if (this.seen !== this.desc.size) {
      callback(new SizeMismatchError(this.desc.size, this.seen, this.desc.digest))
      return
    }
    const actual = 'sha256:' + this.hash.digest('hex')
    if (actual !== this.desc.digest) {
      callback(new DigestMismatchError(this.desc.digest, actual))
      return
    }
    callback()
  }

  get bytesSeen(): number {
    return this.seen
  }
}

/** `source` piped through a VerifyStream; errors of the source propagate to the result. */
export function verifying(source: Readable, desc: Pick<Descriptor, 'digest' | 'size'>): Readable {
  const verify = new VerifyStream(desc)
  source.on('error', (err) => verify.destroy(err))
  verify.on('close', () => {
    if (!source.destroyed) source.destroy()
  })
  return source.pipe(verify)
}

/** Checks bytes in memory against a descriptor. */
export function verifyBytes(data: Uint8Array, desc: Pick<Descriptor, 'digest' | 'size'>): void {
  if (data.byteLength !== desc.size) throw new SizeMismatchError(desc.size, data.byteLength, desc.digest)
  const actual = 'sha256:' + createHash('sha256').update(data).digest('hex')
  if (actual !== desc.digest) throw new DigestMismatchError(desc.digest, actual)
}

/** Default bound on what readAll buffers (manifests and configs): 4 MiB, as registries enforce. */
export const MAX_METADATA_BYTES = 4 * 1024 * 1024

/**
 * Reads a whole stream into memory, verifying it against `desc`. Refuses descriptors larger than
 * `maxBytes` before reading anything (manifests and configs only; blobs are streamed).
 */
export async function readAll(
  stream: Readable,
  desc: Pick<Descriptor, 'digest' | 'size'>,
  maxBytes = MAX_METADATA_BYTES,
): Promise<Buffer> {
  if (desc.size > maxBytes) {
    stream.destroy()
    throw new RegistryClientError('TOO_LARGE', `${desc.digest}: ${desc.size} bytes, over the limit of ${maxBytes} bytes for a manifest or config`)
  }
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length
    if (total > desc.size) {
      stream.destroy()
      throw new SizeMismatchError(desc.size, total, desc.digest)
    }
    chunks.push(chunk)
  }
  const data = Buffer.concat(chunks, total)
  verifyBytes(data, desc)
  return data
}

/** A Readable over bytes held in memory. */
export function fromBytes(data: Uint8Array): Readable {
  return Readable.from([Buffer.from(data.buffer, data.byteOffset, data.byteLength)], {objectMode: false})
}
