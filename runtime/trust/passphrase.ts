// Where a key passphrase comes from: KIT_KEY_PASSWORD, else standard input (piped; one line, the
// trailing newline removed). Never a flag value (it would show in argv and shell history).
import {KeyError} from '../../registry-client/sign/errors.js'

export const PASSPHRASE_ENV = 'KIT_KEY_PASSWORD'

export async function readPassphrase(env: NodeJS.ProcessEnv = process.env, stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  const fromEnv = env[PASSPHRASE_ENV]
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  if (stdin.isTTY) throw new KeyError('passphrase', `set ${PASSPHRASE_ENV} or pipe the passphrase on stdin`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stdin) {
    size += (chunk as Buffer).length
    if (size > 64 * 1024) throw new KeyError('passphrase', 'the passphrase on stdin is longer than 64 KiB')
    chunks.push(chunk as Buffer)
  }
  const text = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? ''
  if (text === '') throw new KeyError('passphrase', `no passphrase: set ${PASSPHRASE_ENV} or pipe one on stdin`)
  return text
}
