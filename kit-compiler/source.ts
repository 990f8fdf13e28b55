// Reading spec.yaml: size and encoding limits, YAML parsing with source positions, and the
// mapping from a path in the parsed document to a 1-based line and column.
import {readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'
import {isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node} from 'yaml'
import type {Diagnostic} from './diagnostics.js'
import {indentationDiagnostic} from './yaml-indent.js'

/** A spec larger than this is refused before parsing (a spec is configuration, not a payload). */
export const MAX_SPEC_BYTES = 1024 * 1024

export const SPEC_FILE_NAMES = ['spec.yaml', 'spec.yml'] as const

export type PathSegment = string | number

export interface SpecSource {
  /** Path of the spec file as shown in diagnostics. */
  file: string
  bytes: Buffer
  text: string
  doc: Document.Parsed
  lines: LineCounter
}

export interface Position {
  line: number
  column: number
}

/** Finds spec.yaml (or spec.yml) in a kit directory. */
export async function findSpecFile(kitDir: string): Promise<string | undefined> {
  for (const name of SPEC_FILE_NAMES) {
    const candidate = join(kitDir, name)
    try {
      if ((await stat(candidate)).isFile()) return candidate
    } catch {
      // not there
    }
  }
  return undefined
}

export async function readSpecBytes(file: string, shownAs: string): Promise<{bytes?: Buffer; error?: Diagnostic}> {
  const info = await stat(file)
  if (info.size > MAX_SPEC_BYTES) {
    return {error: {severity: 'error', file: shownAs, code: 'spec-too-large',
      message: `spec is ${info.size} bytes; the limit is ${MAX_SPEC_BYTES} bytes (1 MiB)`}}
  }
  return {bytes: await readFile(file)}
}

/**
 * Parses spec bytes. Returns diagnostics for bad encoding and YAML errors (tabs, duplicate keys,
 * syntax), each with its position; `source` is set only when the YAML parsed.
 */
export function parseSpec(bytes: Buffer, file: string): {source?: SpecSource; diagnostics: Diagnostic[]} {
  let text: string
  try {
    text = new TextDecoder('utf-8', {fatal: true}).decode(bytes)
  } catch {
    return {diagnostics: [{severity: 'error', file, code: 'spec-encoding', message: 'spec is not valid UTF-8'}]}
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const lines = new LineCounter()
  const doc = parseDocument(text, {lineCounter: lines, prettyErrors: false, uniqueKeys: true, strict: true})
  const diagnostics: Diagnostic[] = []
  const indentLines = new Set<number>()
  for (const err of doc.errors) {
    const pos = lines.linePos(err.pos[0])
    // An indentation mistake: one diagnostic at the mis-indented line, in plain words.
    const indent = indentationDiagnostic(text, err.code, pos.line, pos.col)
    if (indent) {
      if (!indentLines.has(indent.line)) diagnostics.push({severity: 'error', file, line: indent.line, column: indent.column, code: 'yaml-indentation', message: indent.message})
      indentLines.add(indent.line)
      continue
    }
    if (indentLines.size > 0 && (err.code === 'MISSING_CHAR' || err.code === 'UNEXPECTED_TOKEN')) continue
    diagnostics.push({severity: 'error', file, line: pos.line, column: pos.col, code: 'yaml-syntax', message: yamlMessage(err.code, err.message)})
  }
  for (const warn of doc.warnings) {
    const pos = lines.linePos(warn.pos[0])
    diagnostics.push({severity: 'warning', file, line: pos.line, column: pos.col, code: 'yaml-warning', message: firstLine(warn.message)})
  }
  if (diagnostics.some((d) => d.severity === 'error')) return {diagnostics}
  if (doc.contents === null || !isMap(doc.contents)) {
    return {diagnostics: [{severity: 'error', file, line: 1, column: 1, code: 'spec-not-mapping', message: 'spec must be a YAML mapping (key: value pairs)'}]}
  }
  return {source: {file, bytes, text, doc, lines}, diagnostics}
}

function firstLine(message: string): string {
  return message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')
}

function yamlMessage(code: string, message: string): string {
  if (code === 'TAB_AS_INDENT') return 'tab characters must not be used for indentation (use spaces)'
  if (code === 'DUPLICATE_KEY') return 'duplicate key: ' + firstLine(message).replace(/^Map keys must be unique;?\s*/, '')
  return firstLine(message)
}

/** The node at `path` (or the closest existing ancestor), and the key node when the last step is a map key. */
export function nodeAt(source: SpecSource, path: readonly PathSegment[]): {node?: Node; key?: Node; depth: number} {
  let current: unknown = source.doc.contents
  let key: Node | undefined
  let depth = 0
  for (const segment of path) {
    if (isMap(current)) {
      const pair = current.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment))
      if (!pair) break
      key = pair.key as Node
      current = pair.value
    } else if (isSeq(current) && typeof segment === 'number') {
      const item = current.items[segment]
      if (item === undefined) break
      key = undefined
      current = item
    } else {
      break
    }
    depth++
  }
  if (depth < path.length) key = undefined
  return {node: (current ?? undefined) as Node | undefined, key, depth}
}

/** Line and column of the value at `path` (or of its key with `which: 'key'`); falls back to ancestors. */
export function positionOf(source: SpecSource, path: readonly PathSegment[], which: 'key' | 'value' = 'value'): Position {
  const {node, key} = nodeAt(source, path)
  const target = which === 'key' && key ? key : node ?? key
  const offset = target?.range?.[0] ?? 0
  const pos = source.lines.linePos(offset)
  return {line: pos.line, column: pos.col}
}

/** The plain JS value of the document. */
export function specValue(source: SpecSource): Record<string, unknown> {
  return source.doc.toJS({maxAliasCount: 100}) as Record<string, unknown>
}
