// Finding and reading a v3 descriptor in a kit directory (SPEC-v3 §3): `<stem>.yaml` (or spec.yaml)
// with an optional `<stem>.dockerfile` companion or an inline `build:` block, a `kind: set`
// descriptor, or a Dockerfile carrying its descriptor in a `# kit:` comment block. The YAML is parsed
// with source positions by the v1/v2 reader (../source.ts); for a comment descriptor, positions are
// mapped back onto the Dockerfile's own lines and columns.
import {readdir, readFile, stat} from 'node:fs/promises'
import {basename, extname, join, relative} from 'node:path'
import type {Diagnostic} from '../diagnostics.js'
import {MAX_SPEC_BYTES, parseSpec, positionOf, type PathSegment, type Position, type SpecSource} from '../source.js'
import {SYNTAX_LINE} from './descriptor.js'

export type AuthoringForm = 'descriptor' | 'comment'

export interface V3Source {
  form: AuthoringForm
  dir: string
  /** The descriptor YAML file, or the Dockerfile holding a `# kit:` block. */
  path: string
  /** The path as shown in diagnostics. */
  file: string
  /** The file's stem (`gh` of gh.yaml); names the staged sources (§10). */
  stem: string
  /** The whole file's bytes. */
  fileBytes: Buffer
  /** The descriptor YAML (the extracted, dedented block for a comment descriptor). */
  yaml: string
  /** Comment form: 1-based line of the block's first YAML line, minus one; and its column shift. */
  lineOffset: number
  columnOffset: number
}

export function display(path: string): string {
  const rel = relative(process.cwd(), path)
  return rel && !rel.startsWith('..') ? rel : path
}

const head = async (path: string): Promise<string> => {
  const info = await stat(path)
  if (!info.isFile()) return ''
  return (await readFile(path)).subarray(0, 16 * 1024).toString('utf8')
}

/** True when YAML text is a v3 descriptor: the syntax line, or `schemaVersion: "3"` at top level. */
export function looksLikeV3(text: string): boolean {
  const first = text.replace(/^\uFEFF/, '').split('\n').find((l) => l.trim() !== '')
  if (first && SYNTAX_LINE.test(first.trim())) return true
  return /^schemaVersion:\s*(["']?)3\1\s*(#.*)?$/m.test(text)
}

/** True when a Dockerfile carries a `# kit:` descriptor block (§3.3). */
export function hasCommentDescriptor(text: string): boolean {
  return /^#\s*kit:\s*$/m.test(text) && SYNTAX_LINE.test(text.split('\n')[0]!.trim())
}

export interface Found {
  path?: string
  form?: AuthoringForm
  /** Why no single descriptor could be chosen. */
  error?: string
}

/**
 * Finds the v3 descriptor of `dir`: the one v3 `*.yaml`/`*.yml` (spec.yaml included), preferring
 * `<dirname>.yaml` and then `spec.yaml` when there are several; else the one Dockerfile with a
 * `# kit:` block. Undefined when the directory holds no v3 kit.
 */
export async function findV3Descriptor(dir: string): Promise<Found | undefined> {
  let names: string[]
  try {
    names = (await readdir(dir)).sort()
  } catch {
    return undefined
  }
  const yamls: string[] = []
  const dockerfiles: string[] = []
  for (const name of names) {
    const ext = extname(name).toLowerCase()
    const path = join(dir, name)
    if (ext === '.yaml' || ext === '.yml') {
      if (looksLikeV3(await head(path).catch(() => ''))) yamls.push(name)
    } else if (name === 'Dockerfile' || ext === '.dockerfile') {
      if (hasCommentDescriptor(await head(path).catch(() => ''))) dockerfiles.push(name)
    }
  }
  if (yamls.length === 1) return {path: join(dir, yamls[0]!), form: 'descriptor'}
  if (yamls.length > 1) {
    const preferred = [`${basename(dir)}.yaml`, `${basename(dir)}.yml`, 'spec.yaml', 'spec.yml'].find((n) => yamls.includes(n))
    if (preferred) return {path: join(dir, preferred), form: 'descriptor'}
    return {error: `several v3 descriptors (${yamls.join(', ')}); keep one, or name one <directory name>.yaml`}
  }
  if (dockerfiles.length === 1) return {path: join(dir, dockerfiles[0]!), form: 'comment'}
  if (dockerfiles.length > 1) return {error: `several Dockerfiles with a "# kit:" descriptor (${dockerfiles.join(', ')}); keep one`}
  return undefined
}

/** Reads a descriptor file; for a Dockerfile, extracts its `# kit:` block byte-faithfully (dedent only). */
export async function readV3Source(dir: string, path: string, form: AuthoringForm): Promise<{source?: V3Source; error?: Diagnostic}> {
  const file = display(path)
  const info = await stat(path)
  if (info.size > MAX_SPEC_BYTES) {
    return {error: {severity: 'error', file, code: 'spec-too-large', message: `descriptor file is ${info.size} bytes; the limit is ${MAX_SPEC_BYTES} bytes (1 MiB)`}}
  }
  const fileBytes = await readFile(path)
  const stem = form === 'comment' && basename(path) === 'Dockerfile' ? basename(dir) : basename(path, extname(path))
  const base = {dir, path, file, stem, fileBytes, form}
  if (form === 'descriptor') return {source: {...base, yaml: fileBytes.toString('utf8'), lineOffset: 0, columnOffset: 0}}
  const lines = fileBytes.toString('utf8').split('\n')
  const start = lines.findIndex((l) => /^#\s*kit:\s*$/.test(l))
  const block: string[] = []
  for (let i = start + 1; i < lines.length; i++) {
    const l = lines[i]!.replace(/\r$/, '')
    if (!l.startsWith('#') || SYNTAX_LINE.test(l) || /^#\s*syntax\s*=/.test(l)) break
    block.push(l.slice(1))
  }
  const indent = Math.min(...block.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length))
  const dedent = Number.isFinite(indent) ? indent : 0
  const yaml = block.map((l) => l.slice(Math.min(dedent, l.length - l.trimStart().length))).join('\n') + '\n'
  return {source: {...base, yaml, lineOffset: start + 1, columnOffset: 1 + dedent}}
}

/** Where a diagnostic points, in the file the user wrote. */
export interface Located {
  src: V3Source
  spec: SpecSource
}

export function at(loc: Located, path: readonly PathSegment[], which: 'key' | 'value' = 'value'): Position {
  return shift(loc.src, positionOf(loc.spec, path, which))
}

export function shift(src: V3Source, pos: Position): Position {
  return {line: pos.line + src.lineOffset, column: pos.column + (src.lineOffset ? src.columnOffset : 0)}
}

/** Parses the descriptor YAML with positions (YAML errors are located in the original file). */
export function parseV3(src: V3Source): {loc?: Located; diagnostics: Diagnostic[]} {
  const parsed = parseSpec(Buffer.from(src.yaml, 'utf8'), src.file)
  const diagnostics = parsed.diagnostics.map((d) => (d.line !== undefined ? {...d, ...shift(src, {line: d.line, column: d.column ?? 1})} : d))
  return {loc: parsed.source ? {src, spec: parsed.source} : undefined, diagnostics}
}
