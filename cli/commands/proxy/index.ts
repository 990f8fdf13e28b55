import {Flags} from '@oclif/core'
import {startStandaloneProxy} from '../../../runtime/proxy/standalone.js'
import {KitCommand} from '../../base.js'

export default class Proxy extends KitCommand {
  static override description =
    'Run the policy proxy in the foreground until SIGTERM or SIGINT: egress rules, credential injection and an audit log for any client with HTTP(S)_PROXY set.'
  static override examples = [
    "<%= config.bin %> proxy --listen 127.0.0.1:3128 --allow 'api.github.com' --log ./audit.jsonl",
    '<%= config.bin %> proxy --listen 127.0.0.1:3128 --kit ./my-kit --connect-to api.example.com:443:127.0.0.1:8443 --upstream-ca ./test-ca.pem',
  ]
  static override flags = {
    listen: Flags.string({description: 'Address and port to listen on (ADDR:PORT).', default: '127.0.0.1:3128'}),
    kit: Flags.string({description: 'A kit (directory or store reference NAME:TAG) whose network rules and credentials apply (repeatable).', multiple: true}),
    allow: Flags.string({description: 'An allow rule (repeatable).', multiple: true}),
    deny: Flags.string({description: 'A deny rule (repeatable).', multiple: true}),
    log: Flags.string({description: 'Audit log file (JSON lines); default KIT_HOME/logs/policy.jsonl.'}),
    'connect-to': Flags.string({description: 'HOST:PORT:ADDR:PORT: connect to ADDR:PORT for HOST:PORT (as curl --connect-to; a test resolver).', multiple: true}),
    'upstream-ca': Flags.string({description: 'A PEM file of extra roots for upstream TLS (repeatable).', multiple: true}),
    sandbox: Flags.string({description: 'A sandbox name to record in the audit log.'}),
  }

  async run(): Promise<{address: string; port: number; caCertPath: string; logFile: string; guestEnv: Record<string, string>}> {
    const {flags} = await this.parse(Proxy)
    const proxy = await startStandaloneProxy({
      listen: flags.listen,
      kits: flags.kit ?? [],
      allow: flags.allow ?? [],
      deny: flags.deny ?? [],
      ...(flags.log ? {logFile: flags.log} : {}),
      connectTo: flags['connect-to'] ?? [],
      upstreamCAFiles: flags['upstream-ca'] ?? [],
      ...(flags.sandbox ? {sandboxName: flags.sandbox} : {}),
    })
    const result = {address: proxy.address, port: proxy.port, caCertPath: proxy.caCertPath, logFile: proxy.logFile, guestEnv: proxy.guestEnv}
    if (this.jsonEnabled()) {
      // The result first, so a script can read the port while the proxy runs.
      process.stdout.write(JSON.stringify(result) + '\n')
    } else {
      this.log(`kit proxy listening on ${proxy.url} (${proxy.rules} rules); CA ${proxy.caCertPath}; audit log ${proxy.logFile}`)
    }
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.removeListener('SIGTERM', stop)
        process.removeListener('SIGINT', stop)
        proxy.stop().then(resolve, resolve)
      }
      process.on('SIGTERM', stop)
      process.on('SIGINT', stop)
    })
    if (this.jsonEnabled()) process.exit(0)
    return result
  }
}
