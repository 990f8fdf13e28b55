// The files of a kit: what `files/home/**` and `files/workspace/**` put in the layer. Only regular
// files and directories reach the layer; a symlink that resolves inside the kit root is followed
// (stored as what it points at), anything else that is not plain text in a plain file is an error
// naming the file. Modes are normalised (0755 for directories and executables, 0644 otherwise), so
// the result depends on the kit's content only, never on umask, owner or mtimes.
import {closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, realpathSync, statSync, type Stats} from 'node:fs'
import {isUtf8} from 'node:buffer'
import {join, sep} from 'node:path'
import type {Diagnostic} from './diagnostics.js'

/** One entry of the kit's layer, in the layer's own terms. */
export interface KitFileEntry {
  /** Path inside the layer, relative, `/`-separated, no trailing slash: `home/agent/.bashrc`. */
  path: string
  type: 'file' | 'directory'
  /** 0o755 or 0o644 (directories and executables 0o755). */
  mode: number
  /** Size in bytes (0 for directories). */
  size: number
  /** Where the content is read from on disk (a followed symlink's target); absent for the implied `home/`. */
  source?: string
  /** The kit-relative source path (`files/home/.bashrc`), for messages. */
  sourceRel?: string
  /**
   * Set when contents were checked: whether the file contains `${{` (a possible kit-arg
   * reference). Files with `false` need not be read again to look for references.
   */
  mayReferenceArgs?: boolean
}

export interface ScanOptions {
  /**
   * Read every file to check that it is text (UTF-8, no NUL byte). Default true. The layer writer
   * checks content again while it streams, so a second scan of the same kit may skip it.
   */
  checkContent?: boolean
}

export interface ScanResult {
  entries: KitFileEntry[]
  diagnostics: Diagnostic[]
}

/** Where files of `files/<top>` go in the layer. */
const TARGETS: Record<string, string> = {home: 'home/agent', workspace: 'workspace'}

/** Directories of the layer above the targets' roots, present when the target is. */
const IMPLIED_PARENTS: Record<string, string[]> = {home: ['home'], workspace: []}

const ARG_OPEN = Buffer.from('${{')

/** Files are read in chunks of this size. */
const READ_CHUNK = 1 << 20

/**
 * Walks `<kitDir>/files` and returns the layer entries, sorted by path (byte order, parents first),
 * and every problem found (errors for what cannot go into a layer, warnings for ignored paths).
 */
export async function scanKitFiles(kitDir: string, opts: ScanOptions = {}): Promise<ScanResult> {
  const scanner = new Scanner(kitDir, opts)
  scanner.run()
  return {entries: scanner.sortedEntries(), diagnostics: scanner.diagnostics}
}

/** Byte-order comparison of layer paths (what Go's sort.Strings and `LC_ALL=C sort` do). */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** Entries sorted by path in byte order (each path encoded once, not once per comparison). */
export function sortByPath<T extends {path: string}>(entries: readonly T[]): T[] {
  return entries
    .map((e) => ({key: Buffer.from(e.path, 'utf8'), e}))
    .sort((a, b) => Buffer.compare(a.key, b.key))
    .map(({e}) => e)
}

class Scanner {
  readonly diagnostics: Diagnostic[] = []
  private readonly entries: KitFileEntry[] = []
  private root = ''
  private readonly checkContent: boolean
  /** One read buffer, reused for every file (memory stays bounded whatever the kit's size). */
  private buffer: Buffer | undefined

  constructor(
    private readonly kitDir: string,
    opts: ScanOptions,
  ) {
    this.checkContent = opts.checkContent ?? true
  }

  sortedEntries(): KitFileEntry[] {
    return sortByPath(this.entries)
  }

  private error(rel: string, code: string, message: string): void {
    this.diagnostics.push({severity: 'error', file: join(this.kitDir, rel), message, code})
  }

  private warning(rel: string, code: string, message: string): void {
    this.diagnostics.push({severity: 'warning', file: join(this.kitDir, rel), message, code})
  }

  // The walk uses synchronous calls: it is syscall-bound, and on a kit of 10,000 files the
  // thread-pool round trips of the promise API cost several times the work itself.
  run(): void {
    try {
      this.root = realpathSync(this.kitDir)
    } catch (err) {
      this.error('', 'kit-dir', `cannot read kit directory: ${errText(err)}`)
      return
    }
    const filesDir = this.follow(join(this.kitDir, 'files'), 'files', new Set())
    if (filesDir === undefined) return
    if (!filesDir.stats.isDirectory()) {
      this.error('files', 'files-not-dir', 'files is not a directory (it must hold home/ and workspace/)')
      return
    }
    const ancestors = new Set([filesDir.real])
    for (const child of this.list(filesDir.real, 'files')) {
      const rel = `files/${child}`
      const target = TARGETS[child]
      if (target === undefined) {
        this.warning(rel, 'files-ignored', `${rel} is ignored: only files/home and files/workspace are copied into a kit`)
        continue
      }
      const found = this.follow(join(filesDir.real, child), rel, ancestors)
      if (found === undefined) continue
      if (!found.stats.isDirectory()) {
        this.error(rel, 'target-not-dir', `${rel} must be a directory`)
        continue
      }
      for (const parent of IMPLIED_PARENTS[child]!) this.entries.push({path: parent, type: 'directory', mode: 0o755, size: 0})
      this.entries.push({path: target, type: 'directory', mode: 0o755, size: 0, source: found.real, sourceRel: rel})
      this.walk(found.real, target, rel, new Set([...ancestors, found.real]))
    }
  }

  /** Names in a directory, each valid UTF-8 (invalid names are reported and skipped). */
  private list(dir: string, rel: string): string[] {
    let names: Buffer[]
    try {
      names = readdirSync(dir, {encoding: 'buffer'})
    } catch (err) {
      this.error(rel, 'unreadable', `cannot read ${rel}: ${errText(err)}`)
      return []
    }
    const out: string[] = []
    for (const raw of names) {
      if (!isUtf8(raw)) {
        this.error(`${rel}/${escapeName(raw)}`, 'name-not-utf8', `the name of ${rel}/${escapeName(raw)} is not valid UTF-8`)
        continue
      }
      out.push(raw.toString('utf8'))
    }
    return out
  }

  /**
   * lstat `path`; if it is a symlink, resolve it and require that it stays inside the kit root.
   * Returns the real path and the stats of what it is, or undefined after reporting an error.
   */
  private follow(path: string, rel: string, ancestors: Set<string>): {real: string; stats: Stats} | undefined {
    let st: Stats
    try {
      st = lstatSync(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && rel === 'files') return undefined
      this.error(rel, 'unreadable', `cannot read ${rel}: ${errText(err)}`)
      return undefined
    }
    if (!st.isSymbolicLink()) {
      if (rel === 'files') {
        // A real directory, but the kit directory itself may be reached through a symlink.
        const real = safeRealpath(path)
        if (!this.inside(real)) {
          this.error(rel, 'path-escape', `${rel} leaves the kit directory (${real})`)
          return undefined
        }
        return {real, stats: st}
      }
      return {real: path, stats: st}
    }
    let link = ''
    try {
      link = readlinkSync(path)
    } catch {
      // reported below through realpath
    }
    let real: string
    try {
      real = realpathSync(path)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ELOOP') this.error(rel, 'symlink-loop', `symlink ${rel} -> ${link} is a loop`)
      else this.error(rel, 'symlink-dangling', `symlink ${rel} -> ${link} points at nothing (${errText(err)})`)
      return undefined
    }
    if (!this.inside(real)) {
      this.error(rel, 'symlink-escape', `symlink ${rel} -> ${link} resolves outside the kit (${real}); symlinks must stay inside the kit root`)
      return undefined
    }
    if (ancestors.has(real)) {
      this.error(rel, 'symlink-loop', `symlink ${rel} -> ${link} points at one of its own parent directories`)
      return undefined
    }
    try {
      return {real, stats: statSync(real)}
    } catch (err) {
      this.error(rel, 'unreadable', `cannot read ${rel}: ${errText(err)}`)
      return undefined
    }
  }

  private inside(real: string): boolean {
    return real === this.root || real.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep)
  }

  private walk(dir: string, layerPath: string, rel: string, ancestors: Set<string>): void {
    for (const name of this.list(dir, rel)) {
      const childRel = `${rel}/${name}`
      const childLayer = `${layerPath}/${name}`
      const found = this.follow(join(dir, name), childRel, ancestors)
      if (found === undefined) continue
      const {real, stats} = found
      if (stats.isDirectory()) {
        this.entries.push({path: childLayer, type: 'directory', mode: 0o755, size: 0, source: real, sourceRel: childRel})
        this.walk(real, childLayer, childRel, new Set([...ancestors, real]))
      } else if (stats.isFile()) {
        if (stats.nlink > 1) {
          this.error(childRel, 'hardlink', `${childRel} is a hard link (${stats.nlink} links); copy the file instead`)
          continue
        }
        const entry: KitFileEntry = {
          path: childLayer,
          type: 'file',
          mode: stats.mode & 0o111 ? 0o755 : 0o644,
          size: stats.size,
          source: real,
          sourceRel: childRel,
        }
        this.entries.push(entry)
        if (this.checkContent) this.checkText(entry)
      } else {
        this.error(childRel, 'special-file', `${childRel} is a ${kindOf(stats)}; only regular files and directories can be in files/`)
      }
    }
  }

  private checkText(entry: KitFileEntry): void {
    this.buffer ??= Buffer.allocUnsafe(READ_CHUNK)
    try {
      const refs = {found: false}
      const problem = textProblemSync(entry.source!, this.buffer, refs)
      if (problem) this.error(entry.sourceRel!, 'binary-file', binaryMessage(entry.sourceRel!, problem))
      else entry.mayReferenceArgs = refs.found
    } catch (err) {
      this.error(entry.sourceRel!, 'unreadable', `cannot read ${entry.sourceRel}: ${errText(err)}`)
    }
  }
}

/** The message for a file that is not text. */
export function binaryMessage(rel: string, problem: string): string {
  return `${rel} is a binary file (${problem}); files/ may only hold UTF-8 text`
}

/**
 * Checks that a file is UTF-8 text without NUL bytes, reading it in chunks into `buffer`. Returns
 * a description of the first problem, or undefined.
 */
export function textProblemSync(
  path: string,
  buffer: Buffer = Buffer.allocUnsafe(READ_CHUNK),
  argRefs?: {found: boolean},
): string | undefined {
  const fd = openSync(path, 'r')
  try {
    const checker = new TextChecker()
    let tail = Buffer.alloc(0)
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null)
      if (n === 0) return checker.end()
      const chunk = buffer.subarray(0, n)
      const problem = checker.update(chunk)
      if (problem) return problem
      if (argRefs && !argRefs.found) {
        // `${{` may straddle two reads: look at the seam too.
        argRefs.found = chunk.includes(ARG_OPEN) || Buffer.concat([tail, chunk.subarray(0, 2)]).includes(ARG_OPEN)
        tail = Buffer.from(chunk.subarray(Math.max(0, n - 2)))
      }
    }
  } finally {
    closeSync(fd)
  }
}

/**
 * Incremental text check: UTF-8 validity across chunk boundaries (an incomplete sequence at the end
 * of a chunk is carried to the next) and no NUL byte.
 */
export class TextChecker {
  private carry: Buffer = Buffer.alloc(0)
  private offset = 0

  /** Feeds a chunk; returns a problem description or undefined. */
  update(chunk: Buffer): string | undefined {
    const nul = chunk.indexOf(0)
    if (nul !== -1) return `NUL byte at offset ${this.offset + nul}`
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk
    const cut = completePrefix(buf)
    if (!isUtf8(buf.subarray(0, cut))) return `invalid UTF-8 after offset ${this.offset - this.carry.length}`
    this.offset += chunk.length
    this.carry = Buffer.from(buf.subarray(cut))
    return undefined
  }

  end(): string | undefined {
    if (this.carry.length) return 'truncated UTF-8 sequence at end of file'
    return undefined
  }
}

/** The length of the longest prefix of `buf` that does not end inside a multi-byte sequence. */
function completePrefix(buf: Buffer): number {
  const n = buf.length
  for (let back = 1; back <= Math.min(3, n); back++) {
    const b = buf[n - back]!
    if ((b & 0xc0) === 0x80) continue // continuation byte: look further back
    if (b < 0x80) return n
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1
    return need > back ? n - back : n
  }
  return n
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'FIFO (named pipe)'
  if (st.isSocket()) return 'socket'
  if (st.isCharacterDevice()) return 'character device'
  if (st.isBlockDevice()) return 'block device'
  return 'special file'
}

/** A name with invalid UTF-8 bytes shown as \xNN. */
function escapeName(raw: Buffer): string {
  let out = ''
  let i = 0
  while (i < raw.length) {
    const b = raw[i]!
    const len = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 0
    const seq = len ? raw.subarray(i, i + len) : undefined
    if (seq && seq.length === len && isUtf8(seq)) {
      out += seq.toString('utf8')
      i += len
    } else {
      out += `\\x${b.toString(16).padStart(2, '0')}`
      i++
    }
  }
  return out
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  return e.code ?? e.message ?? String(err)
}

function safeRealpath(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    return path
  }
}
