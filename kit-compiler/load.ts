// Loading a kit directory: find and parse spec.yaml, substitute kit arguments, validate against the
// schema of its version, normalise to the v2 model, check the semantic rules and scan files/.
// `validateKit` collects every diagnostic; `loadKit` throws KitValidationError when there are errors.
import {lstat, readFile, realpath, stat} from 'node:fs/promises'
import {relative, resolve, sep} from 'node:path'
import {isPair, isScalar, visit} from 'yaml'
import {findArgReferences, findMalformedReferences, resolveArgValues, substituteArgs, ArgError} from './args.js'
import {KitValidationError, type Diagnostic} from './diagnostics.js'
import {scanKitFiles, type KitFileEntry} from './files.js'
import type {KitArg, KitSpec, KitSpecV1} from './model.js'
import {normalizeV1, normalizeV2, originOf, pathKey, type Normalized} from './normalize.js'
import {coerceScalars, validateSchema, type SchemaVersion} from './schema.js'
import {findSpecFile, parseSpec, positionOf, readSpecBytes, specValue, type PathSegment, type SpecSource} from './source.js'
import {validateSemantics} from './validate.js'

export interface LoadedKit {
  /** Absolute path of the kit directory. */
  dir: string
  /** Absolute path of spec.yaml (or spec.yml). */
  specPath: string
  /** The spec exactly as authored: the artifact's config blob. */
  specBytes: Buffer
  schemaVersion: SchemaVersion
  /** The normalised v2 model (with kit-arg values substituted when loaded for a launch). */
  spec: KitSpec
  warnings: Diagnostic[]
  /** The layer entries of files/home and files/workspace, sorted. */
  files: KitFileEntry[]
  /** The argument values used (launch only). */
  argValues?: Record<string, string>
}

export interface LoadOptions {
  /**
   * Launch mode: the kit-arg values supplied (`name` or `kit.name` keys). Values are checked against
   * the declarations and substituted. Without it, references are checked and left for launch.
   */
  args?: Record<string, string>
  /** Read files/ contents to check them (text only) and their arg references. Default true. */
  checkFileContents?: boolean
}

export interface ValidationResult {
  kit?: LoadedKit
  diagnostics: Diagnostic[]
  valid: boolean
}

function display(path: string): string {
  const rel = relative(process.cwd(), path)
  return rel && !rel.startsWith('..') ? rel : path
}

const err = (file: string, message: string, code: string, line?: number, column?: number): Diagnostic =>
  ({severity: 'error', file, message, code, ...(line !== undefined ? {line, column} : {})})

/** Where a symlinked spec file leads when that is outside the kit directory (else undefined). */
async function specOutsideKit(dir: string, specPath: string): Promise<string | undefined> {
  if (!(await lstat(specPath)).isSymbolicLink()) return undefined
  const [realDir, target] = await Promise.all([realpath(dir), realpath(specPath)])
  return target.startsWith(realDir + sep) ? undefined : target
}

export async function validateKit(kitDir: string, opts: LoadOptions = {}): Promise<ValidationResult> {
  const dir = resolve(kitDir)
  const done = (diagnostics: Diagnostic[], kit?: LoadedKit): ValidationResult => ({
    kit: diagnostics.some((d) => d.severity === 'error') ? undefined : kit,
    diagnostics,
    valid: !diagnostics.some((d) => d.severity === 'error'),
  })
  try {
    if (!(await stat(dir)).isDirectory()) return done([err(display(dir), 'not a directory (a kit is a directory with a spec.yaml)', 'not-a-kit')])
  } catch {
    return done([err(display(dir), 'no such directory', 'not-a-kit')])
  }
  const specPath = await findSpecFile(dir)
  if (!specPath) return done([err(display(dir), 'no spec.yaml (or spec.yml) in this directory', 'no-spec')])
  const file = display(specPath)
  const outside = await specOutsideKit(dir, specPath)
  if (outside) return done([err(file, `is a symlink to ${outside}, outside the kit: a kit's spec must be inside its directory`, 'spec-outside-kit')])
  const {bytes, error} = await readSpecBytes(specPath, file)
  if (error || !bytes) return done([error!])
  const parsed = parseSpec(bytes, file)
  const diagnostics = [...parsed.diagnostics]
  const source = parsed.source
  if (!source) return done(diagnostics)

  const raw = specValue(source)
  // schemaVersion decides the grammar.
  let version: SchemaVersion
  const sv = raw.schemaVersion
  if (sv === undefined) {
    return done([...diagnostics, err(file, 'missing required key "schemaVersion" ("1" or "2")', 'missing-key', 1, 1)])
  } else if (sv === '1' || sv === '2') {
    version = sv
  } else if (sv === 1 || sv === 2) {
    const pos = positionOf(source, ['schemaVersion'])
    diagnostics.push({severity: 'warning', file, ...pos, code: 'schema-version', message: `schemaVersion should be a string: write "${sv}"`})
    version = String(sv) as SchemaVersion
    raw.schemaVersion = version
  } else {
    const pos = positionOf(source, ['schemaVersion'])
    return done([...diagnostics, err(file, `unsupported schemaVersion ${JSON.stringify(sv)} (supported: "1", "2")`, 'schema-version', pos.line, pos.column)])
  }

  coerceScalars(version, raw, source)

  // Kit arguments (schema v2): references are checked, then substituted into the parsed values.
  const argDependentPaths = new Set<string>()
  let argValues: Record<string, string> | undefined
  const declared = version === '2' && raw.args && typeof raw.args === 'object' ? (raw.args as Record<string, KitArg>) : {}
  checkKeysHaveNoReferences(source, diagnostics)
  if (version === '2') {
    const values: Record<string, string> = {}
    if (opts.args) {
      try {
        argValues = resolveArgValues(String(raw.name ?? ''), declared, opts.args)
        Object.assign(values, argValues)
      } catch (error) {
        if (!(error instanceof ArgError)) throw error
        diagnostics.push(err(file, error.message, 'arg-value'))
        return done(diagnostics)
      }
      const undeclaredScoped = Object.keys(opts.args).filter((k) => k.startsWith(`${String(raw.name)}.`) && !(k.slice(String(raw.name).length + 1) in declared))
      for (const k of undeclaredScoped) diagnostics.push(err(file, `--kit-arg ${k} sets an argument that spec.yaml does not declare`, 'arg-undeclared'))
    } else {
      for (const [name, arg] of Object.entries(declared)) {
        const placeholder = arg?.default ?? arg?.enum?.[0]
        if (placeholder !== undefined) values[name] = placeholder
      }
    }
    substituteTree(raw, [], (path, text) => {
      if (!text.includes('${{')) return text
      const refs = findArgReferences(text)
      for (const ref of refs) {
        if (!(ref.name in declared)) {
          const pos = positionOf(source, path)
          diagnostics.push(err(file, `references \${{ kit.args.${ref.name} }}, which spec.yaml does not declare in its args: block`, 'undeclared-arg', pos.line, pos.column))
        }
      }
      for (const bad of findMalformedReferences(text)) {
        if (/^\$\{\{\s*kit\./.test(bad.text)) {
          const pos = positionOf(source, path)
          diagnostics.push(err(file, `malformed argument reference "${bad.text}": write \${{ kit.args.NAME }}`, 'malformed-arg', pos.line, pos.column))
        }
      }
      if (refs.some((r) => values[r.name] === undefined)) {
        argDependentPaths.add(pathKey(path))
        return text
      }
      return substituteArgs(text, values)
    })
  } else if (opts.args && Object.keys(opts.args).some((k) => k.startsWith(`${String(raw.name)}.`))) {
    diagnostics.push(err(file, 'kit arguments need schemaVersion "2"; this kit declares none', 'arg-undeclared'))
  }
  const argDependent = (path: readonly PathSegment[]) => argDependentPaths.has(pathKey(path))

  const schemaDiagnostics = validateSchema(version, raw, source, argDependent)
  diagnostics.push(...schemaDiagnostics)
  if (schemaDiagnostics.length) return done(diagnostics)

  const normalized: Normalized = version === '1' ? normalizeV1(raw as unknown as KitSpecV1) : normalizeV2(raw)
  for (const w of normalized.warnings) {
    const pos = positionOf(source, w.path, 'key')
    diagnostics.push({severity: 'warning', file, ...pos, code: 'deprecated', message: w.message})
  }
  const ctx = {source, origins: normalized.origins, argDependent: (p: readonly PathSegment[]) => argDependent(originOf(normalized.origins, p))}
  diagnostics.push(...validateSemantics(normalized.spec, ctx))

  // files/: what goes into the layer, and (v2) the arg references in text payloads.
  const scan = await scanKitFiles(dir, {checkContent: opts.checkFileContents !== false})
  diagnostics.push(...scan.diagnostics)
  if (version === '2' && opts.checkFileContents !== false) {
    for (const entry of scan.entries) {
      // The scan already read every file and flagged those holding `${{`; only those are re-read.
      if (entry.type !== 'file' || !entry.source || entry.mayReferenceArgs === false) continue
      const text = await readFile(entry.source, 'utf8').catch(() => '')
      if (!text.includes('${{')) continue
      for (const ref of findArgReferences(text)) {
        if (!(ref.name in declared)) {
          const {line, column} = lineColumn(text, ref.index)
          diagnostics.push(err(display(entry.source), `references \${{ kit.args.${ref.name} }}, which spec.yaml does not declare in its args: block`, 'undeclared-arg', line, column))
        }
      }
    }
  }

  const warnings = diagnostics.filter((d) => d.severity === 'warning')
  const kit: LoadedKit = {dir, specPath, specBytes: bytes, schemaVersion: version, spec: normalized.spec, warnings, files: scan.entries}
  if (argValues) kit.argValues = argValues
  return done(sortDiagnostics(diagnostics), kit)
}

/** Loads a kit or throws KitValidationError with every diagnostic. */
export async function loadKit(kitDir: string, opts: LoadOptions = {}): Promise<LoadedKit> {
  const result = await validateKit(kitDir, opts)
  if (!result.valid || !result.kit) throw new KitValidationError(result.diagnostics)
  return result.kit
}

function sortDiagnostics(list: Diagnostic[]): Diagnostic[] {
  return [...list].sort((a, b) =>
    a.file === b.file ? (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0) : a.file < b.file ? -1 : 1)
}

/** Applies `fn` to every string value (not keys) of the tree, except under the top-level `args`. */
function substituteTree(node: any, path: PathSegment[], fn: (path: PathSegment[], text: string) => string): void {
  if (Array.isArray(node)) {
    node.forEach((v, i) => {
      if (typeof v === 'string') node[i] = fn([...path, i], v)
      else substituteTree(v, [...path, i], fn)
    })
  } else if (node && typeof node === 'object') {
    for (const key of Object.keys(node)) {
      if (path.length === 0 && key === 'args') continue
      const v = node[key]
      if (typeof v === 'string') node[key] = fn([...path, key], v)
      else substituteTree(v, [...path, key], fn)
    }
  }
}

/** A mapping key may not hold an argument reference (only values may). */
function checkKeysHaveNoReferences(source: SpecSource, diagnostics: Diagnostic[]): void {
  visit(source.doc, {
    Pair(_, pair) {
      if (isPair(pair) && isScalar(pair.key) && String(pair.key.value).includes('${{')) {
        const pos = source.lines.linePos(pair.key.range?.[0] ?? 0)
        diagnostics.push(err(source.file, `mapping key "${String(pair.key.value)}" references an argument, which may only stand in for a value`, 'arg-in-key', pos.line, pos.col))
      }
    },
  })
}

function lineColumn(text: string, index: number): {line: number; column: number} {
  let line = 1
  let last = -1
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) {
    line++
    last = i
  }
  return {line, column: index - last}
}
