import {Args, Flags} from '@oclif/core'
import {AuthFile, configuredHelper, dockerConfigKey, dockerConfigPath, helperWrite, type CredentialSource} from '../../registry-client/credentials.js'
import {RegistryClientError} from '../../registry-client/errors.js'
import {parseReference} from '../../registry-client/reference.js'
import {ping} from '../../registry-client/remote.js'
import {KitCommand} from '../base.js'
import {ask, canPrompt} from '../prompt.js'
import {authFilePath, registryFlags, registryOptions} from '../registry.js'

export default class Login extends KitCommand {
  static override description =
    "Log in to a registry: checks the credentials against it, then stores them through docker's credential helper when docker's config names one (credsStore, credHelpers), else in $KIT_HOME/auth.json (mode 0600, with a warning). The password comes from stdin (--password-stdin) or, on a terminal, a prompt that does not echo; never from a flag."
  static override examples = [
    '<%= config.bin %> login registry.example.com',
    'echo "$TOKEN" | <%= config.bin %> login registry.example.com --username ci --password-stdin',
  ]
  static override args = {registry: Args.string({description: 'registry host[:port]', required: true})}
  static override flags = {
    username: Flags.string({char: 'u', description: 'user name (asked on a terminal when missing)'}),
    'password-stdin': Flags.boolean({description: 'read the password (or token) from stdin'}),
    ...registryFlags,
  }

  async run(): Promise<{registry: string; username: string; stored: string; authFile?: string}> {
    const {args, flags} = await this.parse(Login)
    const registry = parseReference(`${args.registry}/x`).registry
    const interactive = !flags['password-stdin'] && canPrompt(this.jsonEnabled())
    if (!flags['password-stdin'] && !interactive) {
      throw new RegistryClientError('NO_PASSWORD', 'no password: pipe it with --password-stdin, or run kit login on a terminal to be asked')
    }
    const username = flags.username ?? (interactive ? (await ask('Username: ')).trim() : undefined)
    if (!username) throw new RegistryClientError('NO_USERNAME', 'no user name: pass --username')
    const password = interactive ? await ask('Password: ', {hidden: true}) : (await readStdin()).replace(/\r?\n$/, '')
    if (password === '') throw new RegistryClientError('NO_PASSWORD', flags['password-stdin'] ? 'no password on stdin' : 'no password given')
    const credentials: CredentialSource = {get: async () => ({username, password})}
    await ping(registry, {...(await registryOptions(flags)), credentials})
    const file = new AuthFile(authFilePath())
    const helper = await configuredHelper(registry, dockerConfigPath())
    if (helper) {
      await helperWrite(helper, 'store', dockerConfigKey(registry), {username, secret: password})
      // kit's own file is read first: an older entry there would shadow the helper's.
      await file.remove(registry)
      if (!this.jsonEnabled()) this.log(`Logged in to ${registry} as ${username} (credentials in docker-credential-${helper})`)
      return {registry, username, stored: `docker-credential-${helper}`}
    }
    await file.store(registry, username, password)
    process.stderr.write(`kit: warning: the password is stored unencrypted in ${file.path}; configure a docker credential helper (credsStore in ${dockerConfigPath()}) to keep it in a keychain\n`)
    if (!this.jsonEnabled()) this.log(`Logged in to ${registry} as ${username} (credentials in ${file.path})`)
    return {registry, username, stored: file.path, authFile: file.path}
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new RegistryClientError('NO_PASSWORD', '--password-stdin needs the password piped on stdin')
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}
