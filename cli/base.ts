// The base of every kit command: a --json flag (oclif's own), --debug for stack traces, and one
// place that turns a typed error into one line on stderr (or a JSON object) and a non-zero exit.
import {Command, Flags} from '@oclif/core'

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

  protected override async catch(err: CodedError & {oclif?: {exit?: number}}): Promise<unknown> {
    // oclif's own parse errors and exits keep oclif's handling.
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

/** Errors are one line: a multi-line message is folded. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, '; ')
}
