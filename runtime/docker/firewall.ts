// Host firewall rules for a sandbox's bridge. An `--internal` Docker network has no route out, but
// the host itself answers on the bridge's gateway address: every host service listening on
// 0.0.0.0 (or ::) would be reachable from the container. These rules, on the bridge interface,
// accept only the proxy forwarder (gateway:port, TCP) and reject everything else the container
// sends to the host (INPUT) or through it (FORWARD), IPv4 and IPv6. Each rule carries a comment
// naming the sandbox and its owner process, so rules a killed `kit run` left can be found again.
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {DockerError} from './errors.js'

export const RULE_PREFIX = 'kit-sandbox'

/** Whether the host has IPv6 at all (without it, ip6tables may not work and is not needed). */
export function hostHasIpv6(): boolean {
  return existsSync('/proc/sys/net/ipv6')
}

type Tool = 'iptables' | 'ip6tables'

export interface Rule {
  tool: Tool
  chain: 'INPUT' | 'FORWARD'
  spec: string[]
}

function exec(tool: string, args: string[]): Promise<{code: number; out: string; err: string}> {
  return new Promise((resolve) => {
    const p = spawn(tool, args, {stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.stderr.on('data', (d: Buffer) => (err += d.toString()))
    p.on('error', (e) => resolve({code: -1, out, err: e.message}))
    p.on('close', (code) => resolve({code: code ?? -1, out, err}))
  })
}

/** The comment that marks a sandbox's rules: kit-sandbox:HOME:NAME:PID. */
export function ruleComment(home: string, name: string, pid: number): string {
  return `${RULE_PREFIX}:${home}:${name}:${pid}`
}

/**
 * The rules for `bridge`, most specific first (each is inserted at the top of its chain, so they
 * are inserted in reverse). `forward` undefined: the reject rules only (before the network
 * exists); given: the forwarder's rules, accepted from the bridge and refused from any other
 * interface (other containers of the host must not use this sandbox's proxy and its credentials).
 */
export function bridgeRules(bridge: string, comment: string, forward?: {gateway: string; port: number}, ipv6 = hostHasIpv6()): Rule[] {
  const c = ['-m', 'comment', '--comment', comment]
  const rules: Rule[] = []
  if (forward) {
    const to = ['-d', forward.gateway, '-p', 'tcp', '--dport', String(forward.port)]
    rules.push({tool: 'iptables', chain: 'INPUT', spec: ['-i', bridge, ...to, ...c, '-j', 'ACCEPT']})
    rules.push({tool: 'iptables', chain: 'INPUT', spec: ['!', '-i', bridge, ...to, ...c, '-j', 'REJECT', '--reject-with', 'tcp-reset']})
    return rules
  }
  for (const tool of ipv6 ? (['iptables', 'ip6tables'] as const) : (['iptables'] as const)) {
    rules.push({tool, chain: 'INPUT', spec: ['-i', bridge, '-p', 'tcp', ...c, '-j', 'REJECT', '--reject-with', 'tcp-reset']})
    rules.push({tool, chain: 'INPUT', spec: ['-i', bridge, ...c, '-j', tool === 'iptables' ? 'REJECT' : 'DROP']})
    rules.push({tool, chain: 'FORWARD', spec: ['-i', bridge, ...c, '-j', 'DROP']})
    rules.push({tool, chain: 'FORWARD', spec: ['-o', bridge, ...c, '-j', 'DROP']})
  }
  return rules
}

/** Inserts rules at the top of their chains, keeping their order; undoes what it did on failure. */
export async function insertRules(rules: Rule[]): Promise<void> {
  const done: Rule[] = []
  for (const r of [...rules].reverse()) {
    const res = await exec(r.tool, ['-w', '10', '-I', r.chain, '1', ...r.spec])
    if (res.code !== 0) {
      await deleteRules(done)
      throw new DockerError('DOCKER_NETWORK', `${r.tool} -I ${r.chain} failed (the docker driver needs root to firewall the sandbox's bridge): ${res.err.trim().split('\n')[0]}`)
    }
    done.push(r)
  }
}

/** Deletes rules (those already gone are ignored). Returns the ones that could not be deleted. */
export async function deleteRules(rules: Rule[]): Promise<Rule[]> {
  const left: Rule[] = []
  for (const r of rules) {
    const res = await exec(r.tool, ['-w', '10', '-D', r.chain, ...r.spec])
    if (res.code !== 0 && !/does a matching rule exist|Bad rule|No chain/i.test(res.err)) left.push(r)
  }
  return left
}

/** Splits an `iptables -S` line (double quotes around arguments with spaces or colons). */
function splitRuleLine(line: string): string[] {
  const out: string[] = []
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g
  let m
  while ((m = re.exec(line))) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!)
  return out
}

/** Rules whose comment starts with `prefix` (e.g. kit-sandbox:HOME:NAME:), in both tools. */
export async function findRules(prefix: string): Promise<Array<Rule & {comment: string}>> {
  const found: Array<Rule & {comment: string}> = []
  for (const tool of ['iptables', 'ip6tables'] as const) {
    for (const chain of ['INPUT', 'FORWARD'] as const) {
      const res = await exec(tool, ['-w', '10', '-S', chain])
      if (res.code !== 0) continue
      for (const line of res.out.split('\n')) {
        const words = splitRuleLine(line)
        if (words[0] !== '-A' || words[1] !== chain) continue
        const ci = words.indexOf('--comment')
        const comment = ci >= 0 ? words[ci + 1] ?? '' : ''
        if (comment.startsWith(prefix)) found.push({tool, chain, spec: words.slice(2), comment})
      }
    }
  }
  return found
}

/** Whether iptables and ip6tables work here (root, or CAP_NET_ADMIN). */
export async function firewallUsable(): Promise<string | undefined> {
  for (const tool of hostHasIpv6() ? ['iptables', 'ip6tables'] : ['iptables']) {
    const res = await exec(tool, ['-w', '10', '-S', 'INPUT'])
    if (res.code === -1) return `${tool} is not installed (apt-get install iptables): the docker driver firewalls the sandbox's bridge with it`
    if (res.code !== 0) return `${tool} cannot be used (${res.err.trim().split('\n')[0]}): the docker driver must run as root to firewall the sandbox's bridge`
  }
  return undefined
}
