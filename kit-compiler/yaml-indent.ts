// YAML indentation mistakes in words a person understands, at the line where the mistake is.
// The yaml parser reports them as BAD_INDENT ("All mapping items must start at the same column")
// or, for a line indented under a `key: value` line, as an implicit-key error on the line above
// ("Nested mappings are not allowed in compact mappings"). Here they become one diagnostic on the
// mis-indented line, naming the line it should line up with.

export interface IndentDiagnostic {
  line: number
  column: number
  message: string
}

const INDENT_CODES = new Set(['BAD_INDENT', 'BLOCK_AS_IMPLICIT_KEY', 'MULTILINE_IMPLICIT_KEY'])

interface SourceLine {
  /** 1-based */
  n: number
  indent: number
  text: string
}

function contentLines(text: string): SourceLine[] {
  return text.split(/\r?\n/).map((raw, i) => ({n: i + 1, indent: raw.length - raw.trimStart().length, text: raw.trim()}))
}

const isContent = (l: SourceLine | undefined): l is SourceLine => l !== undefined && l.text !== '' && !l.text.startsWith('#')

/** Where a line's key starts: after "- " for a sequence item. */
function keyColumn(l: SourceLine): number {
  const m = /^(-\s+)+/.exec(l.text)
  return l.indent + (m ? m[0].length : 0)
}

/** "name:", "- command:" (or "command:" when `dash` is false), else the line's start. */
function label(l: SourceLine, dash = true): string {
  const key = /^(?:-\s+)*([^:#]+?):(\s|$)/.exec(l.text)
  return key ? `"${dash && l.text.startsWith('-') ? '- ' : ''}${key[1]}:"` : `"${l.text.length > 30 ? l.text.slice(0, 30) + '…' : l.text}"`
}

const spaces = (n: number) => `${n} space${n === 1 ? '' : 's'}`

/**
 * An indentation diagnostic for a yaml error, or undefined when the error is not about indentation.
 * `line`/`column` are the parser's position (1-based).
 */
export function indentationDiagnostic(text: string, code: string, line: number, column: number): IndentDiagnostic | undefined {
  if (!INDENT_CODES.has(code)) return undefined
  const lines = contentLines(text)
  const at = lines[line - 1]
  if (!at) return undefined
  // The parser points at the line itself (at or before its first character), or at the value of
  // the line above the mistake: then the mistake is the next line with content.
  let bad: SourceLine | undefined = at
  if (column > at.indent + 1 || !isContent(at)) {
    bad = lines.slice(line).find(isContent)
  }
  if (!bad) return undefined
  const before = lines.slice(0, bad.n - 1).filter(isContent)
  const prev = before[before.length - 1]
  if (!prev) return undefined
  const where = {line: bad.n, column: bad.indent + 1}
  if (bad.indent > prev.indent && /:\s*\S/.test(prev.text.replace(/^(-\s+)+/, '')) && !/[:|>-]\s*$/.test(prev.text)) {
    // Indented under a line that already has a value.
    const dash = bad.text.startsWith('-') && prev.text.startsWith('-')
    const target = dash ? prev.indent : keyColumn(prev)
    return {
      ...where,
      message: `${label(bad)} is indented under ${label(prev)} on line ${prev.n}, which already has a value: a key holds either a value or nested lines, not both (hint: start it at column ${target + 1}, lined up with ${label(prev, dash)}, or move that value onto nested lines)`,
    }
  }
  // Between two levels: the open blocks above it, nearest first, are where it could line up.
  const levels: SourceLine[] = []
  let limit = Number.POSITIVE_INFINITY
  for (let i = before.length - 1; i >= 0 && levels.length < 2; i--) {
    const l = before[i]!
    const col = bad.text.startsWith('-') ? l.indent : keyColumn(l)
    if (col < limit) {
      limit = col
      if (col !== bad.indent) levels.push(l)
    }
  }
  const dash = bad.text.startsWith('-')
  const options = levels.map((l) => `at column ${(dash ? l.indent : keyColumn(l)) + 1} to line up with ${label(l, dash)} on line ${l.n}`)
  return {
    ...where,
    message: `${label(bad)} is indented by ${spaces(bad.indent)}, which matches no line above it: YAML nests by indentation, so the items of one block start at the same column${options.length ? ` (hint: start it ${options.join(', or ')})` : ''}`,
  }
}
