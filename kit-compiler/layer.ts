// The kit's one layer: a reproducible tar+gzip of the entries scanFiles found. Every header is
// fixed except path, mode and size (uid/gid 1000, empty owner names, mtime 0), entries are in byte
// order, and the gzip header has mtime 0 and a fixed OS byte, so the digest depends on the content
// only. Written streaming to a temp file while hashing the tar (the diff_id) and the gzip (the blob
// digest); file contents are checked again as they stream (text only, same size as scanned).
// Compression runs on several threads (parallel-gzip.ts); the output does not depend on it.
import {createHash} from 'node:crypto'
import {createReadStream, createWriteStream, readFileSync} from 'node:fs'
import {rm} from 'node:fs/promises'
import {join} from 'node:path'
import {Transform, type TransformCallback} from 'node:stream'
import {pipeline} from 'node:stream/promises'
import tar from 'tar-stream'
import {KitValidationError} from './diagnostics.js'
import {ParallelGzip} from './parallel-gzip.js'
import {binaryMessage, sortByPath, TextChecker, type KitFileEntry} from './files.js'

export const LAYER_UID = 1000
export const LAYER_GID = 1000
/** The OS byte of the gzip header: 255 ("unknown"), what Go's compress/gzip writes, the same on every machine. */
export const GZIP_OS_BYTE = 0xff
/** Compression level of the layer (changing it changes every digest). */
export const GZIP_LEVEL = 9

export interface LayerResult {
  /** The temp file holding the gzip bytes. */
  path: string
  /** sha256 of the compressed bytes: the layer's blob digest. */
  digest: string
  size: number
  /** sha256 of the uncompressed tar (the image-config diff_id). */
  diffId: string
  tarSize: number
}

export interface LayerOptions {
  /** Directory in which the kit was scanned, for error messages (`<kitDir>/files/...`). */
  kitDir?: string
}

/**
 * Writes the layer for `entries` to `outPath` (created or truncated) and returns its digests.
 * On any error the file is removed and the error rethrown.
 */
export async function writeLayer(entries: KitFileEntry[], outPath: string, opts: LayerOptions = {}): Promise<LayerResult> {
  const sorted = sortByPath(entries)
  const pack = tar.pack()
  const tarHash = new HashCounter()
  const gzHash = new HashCounter()
  const gzip = new ParallelGzip({level: GZIP_LEVEL, osByte: GZIP_OS_BYTE})
  const out = createWriteStream(outPath)
  const piping = pipeline(pack, tarHash, gzip, gzHash, out)
  const feeding = feed(pack, sorted, opts)
  piping.catch(() => undefined)
  feeding.catch(() => undefined)
  try {
    await Promise.all([piping, feeding])
  } catch (err) {
    pack.destroy()
    await piping.catch(() => undefined)
    await rm(outPath, {force: true})
    throw err
  }
  return {path: outPath, digest: gzHash.digest(), size: gzHash.bytes, diffId: tarHash.digest(), tarSize: tarHash.bytes}
}

/**
 * Adds every entry to the pack. Small files are read with one synchronous call: from the page
 * cache that costs a sixth of the CPU of fs.promises.readFile (whose chunked reads and promise
 * round trips dominate on kits of thousands of small files), and compression keeps running on
 * the thread pool meanwhile. Larger files are streamed.
 */
async function feed(pack: tar.Pack, entries: KitFileEntry[], opts: LayerOptions): Promise<void> {
  for (const e of entries) {
    const header: Entry = {
      name: e.type === 'directory' ? e.path + '/' : e.path,
      type: e.type,
      mode: e.mode,
      uid: LAYER_UID,
      gid: LAYER_GID,
      uname: '',
      gname: '',
      mtime: new Date(0),
      size: e.type === 'file' ? e.size : 0,
    }
    if (e.type === 'directory') await entryDone(pack, header)
    else if (e.size <= SMALL) await entryDone(pack, header, readSmall(e, opts))
    else await streamEntry(pack, header, e, opts)
  }
  pack.finalize()
}

type Entry = Partial<tar.Header> & {name: string}

/** Files of up to 1 MiB are read whole; larger ones are streamed. */
const SMALL = 1 << 20

function readSmall(e: KitFileEntry, opts: LayerOptions): Buffer {
  const data = readFileSync(e.source!)
  checkEntry(e, data.length, opts, (c) => c.update(data) ?? c.end())
  return data
}

function checkEntry(e: KitFileEntry, size: number, opts: LayerOptions, check: (c: TextChecker) => string | undefined): void {
  const rel = e.sourceRel ?? e.path
  const file = opts.kitDir ? join(opts.kitDir, rel) : rel
  if (size !== e.size) {
    throw new KitValidationError([
      {severity: 'error', file, code: 'changed', message: `${rel} changed during the build (was ${e.size} bytes, now ${size})`},
    ])
  }
  const problem = check(new TextChecker())
  if (problem) throw new KitValidationError([{severity: 'error', file, code: 'binary-file', message: binaryMessage(rel, problem)}])
}

function entryDone(pack: tar.Pack, header: Entry, data?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const cb = (err?: Error | null): void => (err ? reject(err) : resolve())
    if (data) pack.entry(header, data, cb)
    else pack.entry(header, cb)
  })
}

async function streamEntry(pack: tar.Pack, header: Entry, e: KitFileEntry, opts: LayerOptions): Promise<void> {
  const rel = e.sourceRel ?? e.path
  const file = opts.kitDir ? join(opts.kitDir, rel) : rel
  const checker = new TextChecker()
  let seen = 0
  const check = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length
      if (seen > e.size) return cb(changed(file, rel, e.size, seen))
      const problem = checker.update(chunk)
      if (problem) return cb(binary(file, rel, problem))
      cb(null, chunk)
    },
    flush(cb) {
      if (seen !== e.size) return cb(changed(file, rel, e.size, seen))
      const problem = checker.end()
      cb(problem ? binary(file, rel, problem) : null)
    },
  })
  let entryErr: Error | null = null
  const done = new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(entryErr ?? err) : resolve()))
    pipeline(createReadStream(e.source!, {highWaterMark: 1 << 20}), check, sink as unknown as NodeJS.WritableStream).catch(
      (err: Error) => {
        entryErr = err
        reject(err)
      },
    )
  })
  await done
}

function changed(file: string, rel: string, was: number, now: number): KitValidationError {
  return new KitValidationError([
    {severity: 'error', file, code: 'changed', message: `${rel} changed during the build (was ${was} bytes, now at least ${now})`},
  ])
}

function binary(file: string, rel: string, problem: string): KitValidationError {
  return new KitValidationError([{severity: 'error', file, code: 'binary-file', message: binaryMessage(rel, problem)}])
}

/** A pass-through that hashes and counts what goes through it. */
class HashCounter extends Transform {
  private readonly hash = createHash('sha256')
  bytes = 0
  private hex: string | undefined

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk)
    this.bytes += chunk.length
    cb(null, chunk)
  }

  digest(): string {
    this.hex ??= this.hash.digest('hex')
    return 'sha256:' + this.hex
  }
}
