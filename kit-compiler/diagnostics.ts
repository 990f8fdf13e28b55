// Diagnostics: every problem found in a kit, with the file and the 1-based line and column where
// it is. Validation collects them all; the CLI prints one per line as `file:line:col: message`.

export type Severity = 'error' | 'warning'

export interface Diagnostic {
  severity: Severity
  /** Path of the file, as given by the user (relative to cwd when possible). */
  file: string
  line?: number
  column?: number
  message: string
  /** A stable machine-readable code, e.g. `unknown-key`, `undeclared-arg`, `symlink-escape`. */
  code: string
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line !== undefined ? `${d.file}:${d.line}:${d.column ?? 1}` : d.file
  return `${where}: ${d.severity === 'warning' ? 'warning: ' : ''}${d.message}`
}

/** Thrown when a kit has errors; carries all of them. The message is the first, in one line. */
export class KitValidationError extends Error {
  readonly code = 'E_KIT_INVALID'
  constructor(readonly diagnostics: Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error')
    const first = errors[0] ?? diagnostics[0]
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''
    super(first ? formatDiagnostic(first) + more : 'invalid kit')
    this.name = 'KitValidationError'
  }
}
