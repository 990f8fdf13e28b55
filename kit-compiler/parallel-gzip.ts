// A gzip stream compressed on several threads, the way pigz does it: the input is cut into
// fixed-size blocks, each block is deflated on its own (on libuv's thread pool) with the previous
// block's last 32 KiB as its dictionary and ends with a sync flush (byte-aligned, not final), the
// last block ends the stream. The concatenation is one ordinary deflate stream, readable by any
// gunzip. Because block boundaries depend on byte offsets only, the output is the same whatever
// the scheduling: deterministic for a given zlib, like a single-threaded gzip.
import {Transform, type TransformCallback} from 'node:stream'
import {availableParallelism} from 'node:os'
import * as zlib from 'node:zlib'

/** Input bytes per block. Changing it changes the output (and every layer digest). */
export const BLOCK_SIZE = 1 << 20
const WINDOW = 32 * 1024

export interface ParallelGzipOptions {
  /** zlib level, 0..9. Default 9. */
  level?: number
  /** The gzip header's OS byte. Default 255 ("unknown"), the same on every machine. */
  osByte?: number
  /** Blocks compressed at the same time. Default: available parallelism + 1. */
  concurrency?: number
}

export class ParallelGzip extends Transform {
  private readonly level: number
  private readonly osByte: number
  private readonly concurrency: number
  private pending: Buffer[] = []
  private pendingBytes = 0
  private dictionary: Buffer | undefined
  private crc = 0
  private inputBytes = 0
  private readonly inflight: Array<Promise<Buffer>> = []
  private headerSent = false

  constructor(opts: ParallelGzipOptions = {}) {
    super()
    this.level = opts.level ?? 9
    this.osByte = opts.osByte ?? 0xff
    this.concurrency = Math.max(1, opts.concurrency ?? availableParallelism() + 1)
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.sendHeader()
    this.crc = crc32(chunk, this.crc)
    this.inputBytes += chunk.length
    this.pending.push(chunk)
    this.pendingBytes += chunk.length
    this.pump(false).then(() => cb(), cb)
  }

  override _flush(cb: TransformCallback): void {
    this.sendHeader()
    this.pump(true).then(() => {
      const trailer = Buffer.alloc(8)
      trailer.writeUInt32LE(this.crc >>> 0, 0)
      trailer.writeUInt32LE(this.inputBytes % 2 ** 32, 4)
      this.push(trailer)
      cb()
    }, cb)
  }

  private sendHeader(): void {
    if (this.headerSent) return
    this.headerSent = true
    // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL (2: best compression, 4: fastest) OS
    const xfl = this.level === 9 ? 2 : this.level === 1 ? 4 : 0
    this.push(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, this.osByte]))
  }

  /** Starts full blocks (and the final one when `last`), emitting finished blocks in order. */
  private async pump(last: boolean): Promise<void> {
    while (this.pendingBytes >= BLOCK_SIZE) {
      const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes)
      const block = all.subarray(0, BLOCK_SIZE)
      const rest = all.subarray(BLOCK_SIZE)
      this.pending = rest.length ? [rest] : []
      this.pendingBytes = rest.length
      await this.start(block, false)
    }
    if (last) {
      const block = Buffer.concat(this.pending, this.pendingBytes)
      this.pending = []
      this.pendingBytes = 0
      await this.start(block, true)
      while (this.inflight.length) this.push(await this.inflight.shift()!)
    }
  }

  private async start(block: Buffer, final: boolean): Promise<void> {
    while (this.inflight.length >= this.concurrency) this.push(await this.inflight.shift()!)
    const opts: zlib.ZlibOptions = {
      level: this.level,
      memLevel: 9,
      finishFlush: final ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
    }
    if (this.dictionary) opts.dictionary = this.dictionary
    // The block may share memory with the caller's chunk: copy the tail that outlives it.
    this.dictionary = Buffer.from(block.subarray(Math.max(0, block.length - WINDOW)))
    const job = new Promise<Buffer>((resolve, reject) => zlib.deflateRaw(block, opts, (err, out) => (err ? reject(err) : resolve(out))))
    job.catch(() => undefined) // awaited in order; never an unhandled rejection
    this.inflight.push(job)
  }
}

// zlib.crc32 exists from Node 20.15; a table-driven fallback keeps older 20.x working.
const nativeCrc32 = (zlib as unknown as {crc32?: (data: Uint8Array, value?: number) => number}).crc32
let table: Uint32Array | undefined

export function crc32(data: Uint8Array, value = 0): number {
  if (nativeCrc32) return nativeCrc32(data, value)
  if (!table) {
    table = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      table[n] = c >>> 0
    }
  }
  let crc = ~value
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}
