// Questions on a terminal: a user name, a hidden password or passphrase (nothing echoed, as
// ssh-keygen and docker login do). Only when stdin and stderr are terminals and not under --json;
// the prompts go to stderr, so stdout keeps only the command's result.
import {read} from 'read'

export class PromptError extends Error {
  readonly code = 'PROMPT'
  readonly exitCode: number
  constructor(message: string, exitCode = 1) {
    super(message)
    this.exitCode = exitCode
  }
}

export function canPrompt(json: boolean): boolean {
  return !json && process.stdin.isTTY === true && process.stderr.isTTY === true
}

export async function ask(prompt: string, opts: {hidden?: boolean} = {}): Promise<string> {
  try {
    const answer = await read({prompt, silent: opts.hidden === true, replace: '', input: process.stdin, output: process.stderr, terminal: true})
    // Hidden input echoes nothing, not even the Enter.
    if (opts.hidden) process.stderr.write('\n')
    return answer
  } catch {
    // Ctrl-C or Ctrl-D at the prompt.
    throw new PromptError(`${prompt.replace(/:\s*$/, '')}: canceled`, 130)
  }
}

/** A new secret, typed twice (hidden), as ssh-keygen asks for a passphrase; three tries. */
export async function askNewSecret(first: string, again: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const a = await ask(first, {hidden: true})
    if (a === '') {
      process.stderr.write('An empty passphrase is not allowed: the key is always encrypted.\n')
    } else {
      const b = await ask(again, {hidden: true})
      if (a === b) return a
      process.stderr.write('Passphrases do not match.  Try again.\n')
    }
    if (attempt >= 3) throw new PromptError('no passphrase: three tries failed')
  }
}
