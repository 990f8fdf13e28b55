// Reading a secret value: from stdin when it is piped, else from a prompt that does not echo.
// Never from argv.
import {SecretError} from './errors.js'

export async function readSecretValue(
  prompt: string,
  stdin: NodeJS.ReadStream = process.stdin,
  stderr: NodeJS.WriteStream = process.stderr,
): Promise<string> {
  const value = stdin.isTTY ? await hiddenPrompt(prompt, stdin, stderr) : await readAll(stdin)
  if (value === '') throw new SecretError('no secret value given on stdin', 'E_SECRET_VALUE')
  return value
}

async function readAll(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stdin) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += b.length
    if (size > 65536) throw new SecretError('secret value on stdin is larger than 64 KiB', 'E_SECRET_VALUE')
    chunks.push(b)
  }
  // One trailing newline (from echo or a file) is not part of the value.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
}

function hiddenPrompt(prompt: string, stdin: NodeJS.ReadStream, stderr: NodeJS.WriteStream): Promise<string> {
  return new Promise((resolve, reject) => {
    stderr.write(prompt)
    let value = ''
    stdin.setRawMode(true)
    stdin.resume()
    stdin.setEncoding('utf8')
    const done = (err?: Error) => {
      stdin.setRawMode(false)
      stdin.pause()
      stdin.removeListener('data', onData)
      stderr.write('\n')
      if (err) reject(err)
      else resolve(value)
    }
    const onData = (s: string) => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n') return done()
        if (ch === '\u0003') return done(new SecretError('interrupted', 'E_INTERRUPTED'))
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
        else value += ch
      }
    }
    stdin.on('data', onData)
  })
}
