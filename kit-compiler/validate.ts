// Semantic rules a JSON Schema cannot say, checked on the normalised model. Each problem is a
// diagnostic located in the spec file (through the v1 origin map when the file is schema v1).
import semver from 'semver'
import {checkArgDeclaration} from './args.js'
import type {Diagnostic} from './diagnostics.js'
import type {KitSpec} from './model.js'
import {hostCoveredBy, NetworkRuleError, parseNetworkRule, type NetworkRule} from './network-rules.js'
import {originOf} from './normalize.js'
import {positionOf, type PathSegment, type SpecSource} from './source.js'

export const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/
const LOCKED_PATH_RE = /^[a-z][a-zA-Z0-9]*(\.[a-z][a-zA-Z0-9]*)*$/
const AI_FILENAME_RE = /^[A-Za-z0-9._-]+$/

/** Environment names a kit must not set: the sandbox owns them. */
export const RESERVED_ENV = new Set([
  'HOME', 'USER', 'SHELL', 'PATH', 'LD_PRELOAD', 'LD_LIBRARY_PATH',
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'ALL_PROXY', 'all_proxy',
])
/**
 * The proxy variables: sbx refuses to let a kit override them at launch, not in its validator, and
 * catalog kits set them; kit warns at validation and kit run drops them (runtime/sandbox/plan.ts).
 */
export const PROXY_ENV = new Set(['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY'])
/** A setup step's user: a numeric uid or a user name of the image. */
const USER_RE = /^([0-9]+|[A-Za-z_][A-Za-z0-9_.-]*\$?)$/
export const RESERVED_ENV_PREFIXES = ['DASH_', 'SBX_', 'DOCKER_', 'KIT_']

export interface ValidateContext {
  source: SpecSource
  origins: Map<string, PathSegment[]>
  /** Paths whose values hold unresolved kit-arg references (validated at launch instead). */
  argDependent: (path: readonly PathSegment[]) => boolean
}

export function validateSemantics(spec: KitSpec, ctx: ValidateContext): Diagnostic[] {
  const out: Diagnostic[] = []
  const report = (path: PathSegment[], message: string, code: string, severity: Diagnostic['severity'] = 'error', which: 'key' | 'value' = 'value') => {
    const pos = positionOf(ctx.source, originOf(ctx.origins, path), which)
    out.push({severity, file: ctx.source.file, line: pos.line, column: pos.column, message, code})
  }
  const isMixin = spec.kind === 'mixin'

  // Kind-specific fields.
  if (isMixin) {
    if (spec.sandbox) report(['sandbox'], `"sandbox" is only valid for kind "sandbox", not "mixin"`, 'kind-field', 'error', 'key')
    if (spec.extends !== undefined) report(['extends'], `kind "mixin" must not set extends`, 'kind-field', 'error', 'key')
    if (spec.mixins !== undefined) report(['mixins'], `kind "mixin" must not set mixins`, 'kind-field', 'error', 'key')
    if (spec.agentInstructions?.filename !== undefined) {
      report(['agentInstructions', 'filename'], 'agentInstructions.filename is only used by a sandbox kit; a mixin\'s content goes to its own memory file (ignored)', 'kind-field', 'warning', 'key')
    }
  } else {
    if (!spec.sandbox?.image && spec.extends === undefined) {
      report(spec.sandbox ? ['sandbox'] : ['kind'], 'a sandbox kit needs sandbox.image (or extends: a parent sandbox kit)', 'missing-image')
    }
    if (spec.requires?.agent) report(['requires', 'agent'], `requires.agent is only valid for kind "mixin"`, 'kind-field', 'error', 'key')
    if (spec.sandbox?.build) {
      if (!spec.sandbox.image) report(['sandbox', 'build'], 'sandbox.build is not implemented: specify sandbox.image', 'not-implemented')
      else report(['sandbox', 'build'], 'sandbox.build is not implemented and is ignored; sandbox.image is used', 'not-implemented', 'warning', 'key')
    }
    if (spec.mixins?.length) report(['mixins'], 'mixins: is accepted but not applied yet; pass mixins with --kit at launch', 'not-implemented', 'warning', 'key')
  }
  if (spec.requires?.agent && !ctx.argDependent(['requires', 'agent']) && !NAME_RE.test(spec.requires.agent)) {
    report(['requires', 'agent'], `requires.agent "${spec.requires.agent}" is not a valid kit name`, 'requires')
  }
  const filename = spec.agentInstructions?.filename
  if (filename !== undefined && !isMixin && (!AI_FILENAME_RE.test(filename) || filename === '.' || filename === '..')) {
    report(['agentInstructions', 'filename'], `agentInstructions.filename "${filename}" must be a plain file name (letters, digits, . _ -)`, 'ai-filename')
  }
  if (spec.version !== undefined && !ctx.argDependent(['version']) && !semver.valid(spec.version)) {
    report(['version'], `version "${spec.version}" is not a semver version (e.g. 1.2.3); kit push cannot publish semver tags for it`, 'version', 'warning')
  }

  // locked
  const seenLocked = new Set<string>()
  for (const [i, path] of (spec.locked ?? []).entries()) {
    if (!LOCKED_PATH_RE.test(path)) report(['locked', i], `locked[${i}] "${path}" is not a dotted field path such as permissions.network`, 'locked')
    if (seenLocked.has(path)) report(['locked', i], `locked[${i}] "${path}" is duplicated`, 'locked')
    seenLocked.add(path)
  }

  // args
  for (const [name, arg] of Object.entries(spec.args ?? {})) {
    for (const problem of checkArgDeclaration(name, arg)) report(['args', name], problem, 'arg-declaration', 'error', 'key')
    const seen = new Set<string>()
    for (const [i, v] of (arg.enum ?? []).entries()) {
      if (seen.has(v)) report(['args', name, 'enum', i], `args.${name}.enum[${i}] "${v}" is duplicated`, 'arg-declaration')
      seen.add(v)
    }
  }

  // Network rules: every rule the kit declares is enforced or rejected here.
  const allowRules: Array<{rule: NetworkRule; index: number}> = []
  for (const effect of ['allow', 'deny'] as const) {
    for (const [i, text] of (spec.permissions?.network?.[effect] ?? []).entries()) {
      if (ctx.argDependent(['permissions', 'network', effect, i])) continue
      try {
        const rule = parseNetworkRule(text, effect)
        if (effect === 'allow') allowRules.push({rule, index: i})
      } catch (error) {
        if (!(error instanceof NetworkRuleError)) throw error
        report(['permissions', 'network', effect, i], `permissions.network.${effect}[${i}]: ${error.message}`, 'network-rule')
      }
    }
  }

  // Credentials.
  const services = new Map<string, number>()
  for (const [i, cred] of (spec.credentials ?? []).entries()) {
    const at = (...rest: PathSegment[]): PathSegment[] => ['credentials', i, ...rest]
    if (services.has(cred.service)) report(at('service'), `credential service "${cred.service}" is declared twice (also credentials[${services.get(cred.service)}])`, 'credential-duplicate')
    services.set(cred.service, i)
    // sbx accepts a credential with neither (its v1 fold makes them from a sources entry without env).
    if (!cred.apiKey && !cred.oauth) report(at(), `credentials[${i}] (${cred.service}) has neither apiKey nor oauth: nothing is injected for it`, 'credential-shape', 'warning')
    if (cred.oauth) {
      // As sbx's ValidateOAuth (spec/validate.go): these are refused there too.
      const o = cred.oauth
      const op = at('oauth')
      if (!o.tokenEndpoint?.host) report(op, `credentials[${i}].oauth: tokenEndpoint.host is required`, 'oauth-shape')
      if (!o.tokenEndpoint?.path) report(op, `credentials[${i}].oauth: tokenEndpoint.path is required`, 'oauth-shape')
      if (!o.passthrough && !o.sentinels?.accessToken) report(op, `credentials[${i}].oauth: sentinels.accessToken is required (unless passthrough: true)`, 'oauth-shape')
      if (!o.passthrough && !o.sentinels?.refreshToken) report(op, `credentials[${i}].oauth: sentinels.refreshToken is required (unless passthrough: true)`, 'oauth-shape')
      if (o.credentialFile && !o.credentialFile.path) report([...op, 'credentialFile'], `credentials[${i}].oauth: credentialFile.path is required`, 'oauth-shape')
      if (o.credentialFile && !o.credentialFile.template && !Object.keys(o.credentialFile.structure ?? {}).length) {
        report([...op, 'credentialFile'], `credentials[${i}].oauth: credentialFile requires either template or structure`, 'oauth-shape')
      }
    }
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(cred.service)) report(at('service'), `credentials[${i}].service "${cred.service}" should be lower-case letters, digits and hyphens`, 'credential-service', 'warning')
    if (cred.provider !== undefined) report(at('provider'), `credentials[${i}].provider is reserved by sbx and has no effect`, 'not-implemented', 'warning', 'key')
    const name = cred.apiKey?.name
    if (name !== undefined && (RESERVED_ENV.has(name) || RESERVED_ENV_PREFIXES.some((p) => name.startsWith(p)))) {
      report(at('apiKey', 'name'), `credentials[${i}].apiKey.name ${name} is reserved by the sandbox`, 'reserved-env')
    }
    for (const [j, inject] of (cred.apiKey?.inject ?? []).entries()) {
      const ip = at('apiKey', 'inject', j)
      const label = `credentials[${i}].apiKey.inject[${j}]`
      // As sbx: scheme is sugar (bearer → Authorization: Bearer %s; basic → the secret as password).
      if (inject.scheme !== undefined) {
        if (inject.format !== undefined) report([...ip, 'format'], `${label}: 'scheme' and 'format' are mutually exclusive`, 'inject-shape', 'error', 'key')
        if (inject.scheme === 'basic' && !inject.username) report(ip, `${label}: scheme basic requires a username (the secret is the password)`, 'inject-shape')
        if (inject.scheme === 'bearer' && inject.username !== undefined) report([...ip, 'username'], `${label}: 'username' is not valid with scheme: bearer`, 'inject-shape', 'error', 'key')
      } else if (inject.username === undefined) {
        if (inject.header === undefined) report(ip, `${label}: needs header and format, or scheme (bearer or basic)`, 'inject-shape')
        else if (inject.format === undefined) report(ip, `${label}: header needs a format with one %s`, 'inject-shape')
      }
      if (inject.format !== undefined && inject.format.split('%s').length !== 2) {
        report([...ip, 'format'], `${label}.format "${inject.format}" must contain exactly one %s`, 'inject-format')
      }
      if (ctx.argDependent([...ip, 'domain'])) continue
      let covered = false
      try {
        covered = allowRules.some(({rule}) => hostCoveredBy(rule, inject.domain))
      } catch (error) {
        if (!(error instanceof NetworkRuleError)) throw error
        report([...ip, 'domain'], `${label}.domain: ${error.message}`, 'inject-domain')
        continue
      }
      if (!covered) {
        // sbx's own validator accepts this (its catalog's github example injects into github.com
        // while allowing only *.github.com), so it is a warning: the proxy injects only into
        // requests that some allow rule (this kit's, another kit's, a tier or a local rule) lets through.
        report([...ip, 'domain'], `${label}.domain "${inject.domain}" is not covered by this kit's permissions.network.allow; requests to it are blocked unless another rule allows it`, 'inject-not-allowed', 'warning')
      }
    }
  }

  // Environment.
  if (spec.environment?.proxyManaged !== undefined) {
    report(['environment', 'proxyManaged'], 'environment.proxyManaged is ignored in schema v2: set credentials[].apiKey.proxyManaged', 'deprecated', 'warning', 'key')
  }
  for (const name of Object.keys(spec.environment?.variables ?? {})) {
    if (PROXY_ENV.has(name.toUpperCase())) {
      report(['environment', 'variables', name], `environment variable ${name} is the sandbox's proxy setting: kit run drops it (sbx refuses to override it at launch)`, 'proxy-env', 'warning', 'key')
      continue
    }
    if (RESERVED_ENV.has(name)) report(['environment', 'variables', name], `environment variable ${name} is set by the sandbox and must not be set by a kit`, 'reserved-env', 'error', 'key')
    const prefix = RESERVED_ENV_PREFIXES.find((p) => name.startsWith(p))
    if (prefix) report(['environment', 'variables', name], `environment variable ${name}: the prefix ${prefix} is reserved`, 'reserved-env', 'error', 'key')
  }

  // Setup steps' users: sbx does not restrict them (the image's users decide); kit runs a name it
  // finds in the image's /etc/passwd and stops at launch on one it does not.
  for (const stage of ['install', 'startup'] as const) {
    for (const [i, step] of (spec.setup?.[stage] ?? []).entries()) {
      if (step.user === undefined || step.user === '' || ctx.argDependent(['setup', stage, i, 'user'])) continue
      if (!USER_RE.test(step.user)) report(['setup', stage, i, 'user'], `setup.${stage}[${i}].user "${step.user}" is neither a uid nor a user name; the image must have such a user`, 'user', 'warning')
    }
  }

  // Setup files and volumes: absolute, normalised paths.
  const filePaths = new Map<string, number>()
  for (const [i, file] of (spec.setup?.files ?? []).entries()) {
    if (ctx.argDependent(['setup', 'files', i, 'path'])) continue
    const problem = absolutePathProblem(file.path)
    if (problem) report(['setup', 'files', i, 'path'], `setup.files[${i}].path "${file.path}": ${problem}`, 'path')
    if (filePaths.has(file.path)) report(['setup', 'files', i, 'path'], `setup.files[${i}].path "${file.path}" is also written by setup.files[${filePaths.get(file.path)}]; the later one wins`, 'duplicate-path', 'warning')
    filePaths.set(file.path, i)
  }
  for (const [i, volume] of (spec.volumes ?? []).entries()) {
    if (ctx.argDependent(['volumes', i, 'path'])) continue
    const problem = absolutePathProblem(volume.path)
    if (problem) report(['volumes', i, 'path'], `volumes[${i}].path "${volume.path}": ${problem}`, 'path')
  }
  const cpu = spec.sandbox?.resources?.cpu
  if (typeof cpu === 'number' && cpu < 0) report(['sandbox', 'resources', 'cpu'], 'sandbox.resources.cpu must be non-negative', 'resources')
  if (typeof cpu === 'string' && !ctx.argDependent(['sandbox', 'resources', 'cpu']) && !/^[0-9]+(\.[0-9]+)?$/.test(cpu)) {
    report(['sandbox', 'resources', 'cpu'], `sandbox.resources.cpu "${cpu}" must be a number`, 'resources')
  }
  return out
}

/** Why `path` is not an absolute, normalised path inside the guest, or undefined. */
export function absolutePathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'must be an absolute path'
  if (path.includes('\0')) return 'must not contain NUL'
  const segments = path.split('/').slice(1)
  if (segments.some((s) => s === '..')) return 'must not contain ".." segments'
  if (segments.some((s, i) => (s === '' && i < segments.length - 1) || s === '.')) return 'must be normalised (no "//" or "." segments)'
  return undefined
}
