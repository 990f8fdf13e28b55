// The guest's environment, the same for every driver: the spec's variables (image, kits,
// placeholders), then what the sandbox contract fixes: the proxy variables, the CA bundle
// variables runtimes read, and who the agent is. Root-run steps (setup.install) get the proxy and
// CA variables but not the kits' variables.
import type {VmSpec} from './driver.js'

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
/** Where the init puts the proxy CA (also appended to the image's bundle). */
export const GUEST_CA_PATH = '/usr/local/share/ca-certificates/kit-proxy-ca.crt'
const BUNDLE = '/etc/ssl/certs/ca-certificates.crt'

export interface GuestEnvironments {
  /** The agent's (uid 1000): its command, startup steps, files, `kit exec`. */
  agentEnv: Record<string, string>
  /** Root-run steps'. */
  rootEnv: Record<string, string>
}

/** `proxyUrl`: how the guest reaches the sandbox's proxy (absent: no network). `term`: TERM of a terminal run. */
export function guestEnvironments(spec: VmSpec, proxyUrl?: string, term?: string): GuestEnvironments {
  const fixed: Record<string, string> = {}
  if (spec.proxy && proxyUrl) {
    Object.assign(fixed, {
      HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, http_proxy: proxyUrl, https_proxy: proxyUrl,
      NO_PROXY: 'localhost,127.0.0.1', no_proxy: 'localhost,127.0.0.1',
    })
  }
  if (spec.caCertPem) Object.assign(fixed, {NODE_EXTRA_CA_CERTS: GUEST_CA_PATH, REQUESTS_CA_BUNDLE: BUNDLE, SSL_CERT_FILE: BUNDLE, GIT_SSL_CAINFO: BUNDLE})
  const termEnv: Record<string, string> = term !== undefined ? {TERM: /^[A-Za-z0-9._+-]{1,64}$/.test(term) ? term : 'xterm'} : {}
  const home = spec.plan.home ?? '/home/agent'
  return {
    agentEnv: {...spec.env, ...termEnv, ...fixed, PATH: agentPath(spec.env, home), HOME: home, USER: 'agent', LOGNAME: 'agent', KIT_SANDBOX: spec.name},
    rootEnv: {PATH: spec.env.PATH ?? DEFAULT_PATH, ...fixed, HOME: '/root', USER: 'root', LOGNAME: 'root', DEBIAN_FRONTEND: 'noninteractive'},
  }
}

/**
 * The agent's PATH: the image's (else the default) with the directories kits put helpers in ahead
 * of it: ~/.local/bin (files/home/.local/bin, the sbx kits' convention) and the bin directory of
 * NPM_CONFIG_PREFIX when a kit sets one (npm -g installs). A login shell's profile adds
 * ~/.local/bin too, but `kit run -- sh -c ...`, `kit exec` and startup commands read no profile:
 * the PATH they start with has to hold them.
 */
export function agentPath(env: Record<string, string>, home: string): string {
  const base = (env.PATH ?? DEFAULT_PATH).split(':').filter(Boolean)
  const extra = [`${home}/.local/bin`]
  const npm = env.NPM_CONFIG_PREFIX ?? env.npm_config_prefix
  if (npm && npm.startsWith('/')) extra.push(`${npm.replace(/\/+$/, '')}/bin`)
  return [...extra.filter((d) => !base.includes(d)), ...base].join(':')
}

/** The guest's hostname: the sandbox name in the characters a hostname may hold. */
export function guestHostname(name: string): string {
  return name.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 63) || 'kit'
}
