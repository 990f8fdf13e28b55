// Response redaction: every real secret value the proxy injected on a connection is replaced by its
// placeholder in what comes back (headers and bodies), so an upstream that echoes request headers
// (debug endpoints, some APIs) cannot hand the secret to the guest. Bodies are redacted as they
// stream: up to (longest secret - 1) bytes are held back between chunks so a value split across
// chunks is still found (only bytes that could begin a value are held back, so a streamed event
// is not delayed); memory per response is bounded by that tail plus one chunk. Compressed
// bodies (gzip, deflate, br) are decoded, redacted and encoded again. What the proxy cannot see
// (a value the upstream transforms: hashed, reversed, encrypted) is out of reach; see
// docs/security.md.
import {Transform, type TransformCallback} from 'node:stream'
import zlib from 'node:zlib'

export interface SecretPair {
  /** The real value (or an encoding of it that the proxy sent, e.g. a Basic credential). */
  secret: string
  /** What the guest sees instead. */
  placeholder: string
}

/** The forms of a value an echo may carry it in: as sent, JSON-escaped, percent-encoded. */
export function secretForms(secret: string, placeholder: string): SecretPair[] {
  const out: SecretPair[] = [{secret, placeholder}]
  const json = JSON.stringify(secret).slice(1, -1)
  if (json !== secret) out.push({secret: json, placeholder: JSON.stringify(placeholder).slice(1, -1)})
  const pct = encodeURIComponent(secret)
  if (pct !== secret) out.push({secret: pct, placeholder: encodeURIComponent(placeholder)})
  return out
}

/** The secrets injected on one connection (grows as requests on it inject more). */
export class Redactor {
  private pairs: Array<{secret: Buffer; placeholder: Buffer; text: string; ptext: string}> = []
  private maxLen = 0

  get empty(): boolean {
    return this.pairs.length === 0
  }

  add(pairs: readonly SecretPair[]): void {
    for (const p of pairs) {
      // Too short to redact without mangling ordinary text; values this short are not secrets.
      if (p.secret.length < 4 || this.pairs.some((q) => q.text === p.secret)) continue
      this.pairs.push({secret: Buffer.from(p.secret, 'utf8'), placeholder: Buffer.from(p.placeholder, 'utf8'), text: p.secret, ptext: p.placeholder})
      this.maxLen = Math.max(this.maxLen, Buffer.byteLength(p.secret))
    }
    // Longest first: a value that contains another is replaced whole.
    this.pairs.sort((a, b) => b.secret.length - a.secret.length)
  }

  /** Redact a header value (or name). Returns the text and how many values were replaced. */
  text(s: string): {text: string; count: number} {
    let count = 0
    for (const p of this.pairs) {
      if (!s.includes(p.text)) continue
      const parts = s.split(p.text)
      count += parts.length - 1
      s = parts.join(p.ptext)
    }
    return {text: s, count}
  }

  /** Redact a raw header list in place of a copy; `count` adds up replacements. */
  headers(raw: readonly string[], counter: {count: number}): string[] {
    const out: string[] = []
    for (const h of raw) {
      const r = this.text(h)
      counter.count += r.count
      out.push(r.text)
    }
    return out
  }

  /**
   * A streaming redactor. With `sameLength`, a value is replaced by a mask of its own length (for
   * upgraded streams such as WebSocket, whose framing counts bytes).
   */
  stream(counter: {count: number}, sameLength = false): Transform {
    const pairs = this.pairs.map((p) => ({
      secret: p.secret,
      placeholder: sameLength ? Buffer.from((p.ptext + '*'.repeat(p.secret.length)).slice(0, p.secret.length), 'latin1').subarray(0, p.secret.length) : p.placeholder,
    }))
    let tail: Buffer = Buffer.alloc(0)
    /** How many bytes at the end of data[from:] could begin a value (held back for the next chunk). */
    const partial = (data: Buffer, from: number): number => {
      for (let k = Math.min(this.maxLen - 1, data.length - from); k > 0; k--) {
        const start = data.length - k
        for (const p of pairs) if (p.secret.length > k && p.secret[0] === data[start] && data.compare(p.secret, 0, k, start) === 0) return k
      }
      return 0
    }
    const scan = (data: Buffer, final: boolean): Buffer[] => {
      const out: Buffer[] = []
      let i = 0
      let holdFrom: number | undefined
      for (;;) {
        let at = -1
        let hit: (typeof pairs)[number] | undefined
        for (const p of pairs) {
          const j = data.indexOf(p.secret, i)
          if (j >= 0 && (at < 0 || j < at)) {
            at = j
            hit = p
          }
        }
        if (!hit) break
        // A longer value that starts here may still be arriving: wait for it before choosing.
        const h = hit
        if (!final && pairs.some((p) => p.secret.length > h.secret.length && data.length - at < p.secret.length && data.compare(p.secret, 0, data.length - at, at) === 0)) {
          holdFrom = at
          break
        }
        if (at > i) out.push(data.subarray(i, at))
        out.push(hit.placeholder)
        counter.count++
        i = at + hit.secret.length
      }
      // Only bytes that could start a value wait for the next chunk (an SSE event is not delayed).
      const cut = final ? data.length : (holdFrom ?? data.length - partial(data, i))
      if (cut > i) out.push(data.subarray(i, cut))
      tail = Buffer.from(data.subarray(cut))
      return out
    }
    return new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        const data = tail.length ? Buffer.concat([tail, chunk]) : chunk
        for (const b of scan(data, false)) this.push(b)
        cb()
      },
      flush(cb: TransformCallback) {
        if (tail.length) for (const b of scan(tail, true)) this.push(b)
        cb()
      },
    })
  }
}

/** The content codings a redacting proxy can decode and encode again. */
export const REDACTABLE_CODINGS = ['gzip', 'x-gzip', 'deflate', 'br'] as const

/**
 * The Accept-Encoding to send upstream when responses must be redacted: what the client accepts,
 * narrowed to codings the proxy can decode (so the upstream cannot pick one it cannot read).
 */
export function narrowAcceptEncoding(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const kept = value
    .split(',')
    .map((t) => t.trim())
    .filter((t) => {
      const name = t.split(';')[0]!.trim().toLowerCase()
      return name === 'identity' || (REDACTABLE_CODINGS as readonly string[]).includes(name)
    })
  return kept.length ? kept.join(', ') : 'identity'
}

/**
 * The pipeline a response body goes through: decode, redact, encode again. Returns undefined for
 * a content coding the proxy cannot read (the caller fails closed).
 */
export function redactBody(contentEncoding: string | undefined, redactor: Redactor, counter: {count: number}): Transform[] | undefined {
  const codings = (contentEncoding ?? '')
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '' && t !== 'identity')
  if (codings.length === 0) return [redactor.stream(counter)]
  if (codings.length > 1) return undefined
  const c = codings[0]!
  // Decoders accept a truncated stream (an upstream that closes early) as the end.
  const lenient = {finishFlush: zlib.constants.Z_SYNC_FLUSH}
  // The encoder flushes every write, so a streamed response (server-sent events) is not held back.
  const enc = {level: 4, flush: zlib.constants.Z_SYNC_FLUSH}
  if (c === 'gzip' || c === 'x-gzip') return [zlib.createGunzip(lenient), redactor.stream(counter), zlib.createGzip(enc)]
  if (c === 'deflate') return [zlib.createInflate(lenient), redactor.stream(counter), zlib.createDeflate(enc)]
  if (c === 'br') {
    return [
      zlib.createBrotliDecompress({finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH}),
      redactor.stream(counter),
      zlib.createBrotliCompress({flush: zlib.constants.BROTLI_OPERATION_FLUSH, params: {[zlib.constants.BROTLI_PARAM_QUALITY]: 4}}),
    ]
  }
  return undefined
}
