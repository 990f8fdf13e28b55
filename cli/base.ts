// The base of every kit command: a --json flag (oclif's own), --debug for stack traces, and one
// place that turns a typed error into one line on stderr (or a JSON object) and a non-zero exit.
import {Command, Flags} from '@oclif/core'
import {usageError} from './usage.js'

/** A user-facing error: anything with a string `code` (our typed errors all carry one). */
interface CodedError extends Error {
  code?: string
  exitCode?: number
}

export abstract class KitCommand extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    debug: Flags.boolean({description: 'Print stack traces of errors.', helpGroup: 'GLOBAL'}),
  }

  protected override async catch(err: CodedError & {oclif?: {exit?: number}; parse?: unknown; args?: Array<{name: string}>}): Promise<unknown> {
    // A usage error from oclif's parser (unknown flag, missing or unexpected argument, bad value):
    // one line and exit 2, not the whole help text.
    if (err.parse !== undefined && err.oclif?.exit === 2) {
      usageError(`${parseErrorLine(err)} (see ${this.config.bin} ${this.id?.split(':').join(' ') ?? ''} --help)`, 'USAGE', this.argv)
      this.exit(2)
    }
    // oclif's own exits keep oclif's handling.
    if (err.oclif !== undefined || err.code === 'EEXIT') throw err
    const exitCode = typeof err.exitCode === 'number' ? err.exitCode : 1
    const debug = this.argv.includes('--debug')
    if (this.jsonEnabled()) {
      const body: Record<string, unknown> = {message: err.message}
      if (typeof err.code === 'string') body.code = err.code
      process.stdout.write(JSON.stringify({error: body}) + '\n')
    } else {
      process.stderr.write(`kit: ${oneLine(err.message)}\n`)
      if (debug && err.stack) process.stderr.write(err.stack + '\n')
    }
    this.exit(exitCode)
  }
}

/** oclif's parse error messages, in one line: "missing argument SRC DEST", "Nonexistent flag: --x". */
function parseErrorLine(err: Error & {args?: Array<{name: string}>}): string {
  if (/^Missing \d+ required arg/.test(err.message) && Array.isArray(err.args)) {
    return `missing argument${err.args.length === 1 ? '' : 's'} ${err.args.map((a) => a.name.toUpperCase()).join(' ')}`
  }
  const lines = err.message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== 'See more help with --help' && l !== 'The following error occurred:' && l !== 'The following errors occurred:')
  return lines.join('; ')
}

/** Errors are one line: a multi-line message is folded. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, '; ')
}
