import {Args, Flags} from '@oclif/core'
import {AuthFile, type CredentialSource} from '../../registry-client/credentials.js'
import {RegistryClientError} from '../../registry-client/errors.js'
import {parseReference} from '../../registry-client/reference.js'
import {ping} from '../../registry-client/remote.js'
import {KitCommand} from '../base.js'
import {authFilePath, registryFlags, registryOptions} from '../registry.js'

export default class Login extends KitCommand {
  static override description =
    'Log in to a registry: checks the credentials against it, then stores them in $KIT_HOME/auth.json (mode 0600). The password is read from stdin only.'
  static override examples = ['echo "$TOKEN" | <%= config.bin %> login registry.example.com --username ci --password-stdin']
  static override args = {registry: Args.string({description: 'registry host[:port]', required: true})}
  static override flags = {
    username: Flags.string({char: 'u', description: 'user name', required: true}),
    'password-stdin': Flags.boolean({description: 'read the password (or token) from stdin', required: true}),
    ...registryFlags,
  }

  async run(): Promise<{registry: string; username: string; authFile: string}> {
    const {args, flags} = await this.parse(Login)
    const registry = parseReference(`${args.registry}/x`).registry
    const password = (await readStdin()).replace(/\r?\n$/, '')
    if (password === '') throw new RegistryClientError('NO_PASSWORD', 'no password on stdin')
    const credentials: CredentialSource = {get: async () => ({username: flags.username, password})}
    await ping(registry, {...(await registryOptions(flags)), credentials})
    const file = new AuthFile(authFilePath())
    await file.store(registry, flags.username, password)
    if (!this.jsonEnabled()) this.log(`Logged in to ${registry} as ${flags.username} (credentials in ${file.path})`)
    return {registry, username: flags.username, authFile: file.path}
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new RegistryClientError('NO_PASSWORD', '--password-stdin needs the password piped on stdin')
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}
