// Schema v1 ("Agent Kit" / "Mixin Kit") → the v2 model. Every moved field records where it came
// from, so that a diagnostic about the normalised model points at the v1 file's own key; every
// deprecated or ignored spelling gives a warning instead of silence.
import type {KitSpecV1} from '../schemas/generated/kit-v1.js'
import type {Credential, Inject, KitSpec} from './model.js'
import type {PathSegment} from './source.js'

export interface Normalized {
  spec: KitSpec
  /** Maps a dotted model path prefix to the source path it came from. */
  origins: Map<string, PathSegment[]>
  warnings: Array<{path: PathSegment[]; message: string}>
}

export function pathKey(path: readonly PathSegment[]): string {
  return path.map(String).join('.')
}

/** Source path of a model path: the longest recorded prefix, with the rest appended. */
export function originOf(origins: Map<string, PathSegment[]>, path: readonly PathSegment[]): PathSegment[] {
  for (let n = path.length; n >= 0; n--) {
    const found = origins.get(pathKey(path.slice(0, n)))
    if (found) return [...found, ...path.slice(n)]
  }
  return [...path]
}

/** A v2 file is already the model (only `kind: agent` is spelled differently). */
export function normalizeV2(raw: Record<string, unknown>): Normalized {
  const spec = {...raw} as unknown as KitSpec
  const warnings: Normalized['warnings'] = []
  if ((raw.kind as string) === 'agent') spec.kind = 'sandbox'
  return {spec, origins: new Map(), warnings}
}

/** A service key from an environment variable name, as sbx's deriveServiceKey (spec/normalize.go). */
export function deriveServiceKey(envVar: string): string {
  if (envVar === 'GH_TOKEN' || envVar === 'GITHUB_TOKEN') return 'github'
  const name = envVar.toLowerCase()
  for (const suffix of ['_api_key', '_token', '_key', '_secret']) if (name.endsWith(suffix)) return name.slice(0, -suffix.length)
  return name
}

export function normalizeV1(v1: KitSpecV1): Normalized {
  const origins = new Map<string, PathSegment[]>()
  const warnings: Normalized['warnings'] = []
  const from = (model: PathSegment[], source: PathSegment[]) => origins.set(pathKey(model), source)
  const deprecated = (path: PathSegment[], message: string) => warnings.push({path, message})

  const spec: KitSpec = {schemaVersion: '2', kind: v1.kind === 'mixin' ? 'mixin' : 'sandbox', name: v1.name}
  if (v1.kind === 'agent') {
    // The original vocabulary; still read, no warning needed beyond the schema version.
  }
  if (v1.displayName !== undefined) spec.displayName = v1.displayName
  if (v1.description !== undefined) spec.description = v1.description
  if (v1.version !== undefined) spec.version = v1.version
  if (v1.security) spec.security = {...v1.security}
  if (v1.extends !== undefined) {
    // sbx's no-extends-on-mixins rule is schema v2 only (spec/validate.go); a v1 mixin keeps loading.
    if (v1.kind === 'mixin') deprecated(['extends'], 'extends on a mixin is ignored (schema v1 allows it, v2 refuses it): a mixin stacks on the agent kit it is run with')
    else spec.extends = v1.extends
  }
  if (v1.requires !== undefined) spec.requires = {...v1.requires}

  // agent: / sandbox: block (and the older top-level template/binary/runOptions/aiFilename).
  const blockKey = v1.sandbox ? 'sandbox' : 'agent'
  const block = v1.sandbox ?? v1.agent
  if (v1.agent && v1.sandbox) deprecated(['agent'], 'both agent: and sandbox: are set; sandbox: is used')
  const image = block?.image ?? v1.template
  const entry = block?.entrypoint
  const run = entry?.run ?? (v1.binary ? [v1.binary] : undefined)
  const args = entry?.args ?? v1.runOptions
  const ttyArgs = entry?.ttyArgs ?? v1.interactiveOptions
  if (image !== undefined || run !== undefined || args !== undefined || ttyArgs !== undefined) {
    spec.sandbox = {}
    if (image !== undefined) {
      spec.sandbox.image = image
      from(['sandbox', 'image'], block?.image !== undefined ? [blockKey, 'image'] : ['template'])
    }
    if (run !== undefined) {
      spec.sandbox.entrypoint = [...run]
      from(['sandbox', 'entrypoint'], entry?.run ? [blockKey, 'entrypoint', 'run'] : ['binary'])
    }
    if (args !== undefined || ttyArgs !== undefined) {
      spec.sandbox.command = {}
      if (args !== undefined) spec.sandbox.command.default = [...args]
      if (ttyArgs !== undefined) spec.sandbox.command.interactive = [...ttyArgs]
      from(['sandbox', 'command'], [blockKey, 'entrypoint'])
    }
  }
  if (v1.template !== undefined) deprecated(['template'], 'template is deprecated; use agent.image')
  if (v1.binary !== undefined) deprecated(['binary'], 'binary is deprecated; use agent.entrypoint.run')
  if (v1.runOptions !== undefined) deprecated(['runOptions'], 'runOptions is deprecated; use agent.entrypoint.args')
  if (entry?.pipeMode !== undefined) deprecated([blockKey, 'entrypoint', 'pipeMode'], 'pipeMode has no v2 equivalent and is ignored')
  if (block?.persistence !== undefined) deprecated([blockKey, 'persistence'], 'persistence has no v2 equivalent and is ignored')

  const aiFilename = block?.aiFilename ?? v1.aiFilename
  if (v1.aiFilename !== undefined) deprecated(['aiFilename'], 'aiFilename at the top level is deprecated; use agent.aiFilename')
  const memoryKey = v1.agentContext !== undefined ? 'agentContext' : 'memory'
  const memory = v1.agentContext ?? v1.memory
  if (v1.memory !== undefined) deprecated(['memory'], 'memory is deprecated; it is spelled agentContext (agentInstructions.content in v2)')
  if (aiFilename !== undefined || memory !== undefined) {
    spec.agentInstructions = {}
    if (aiFilename !== undefined) {
      spec.agentInstructions.filename = aiFilename
      from(['agentInstructions', 'filename'], block?.aiFilename !== undefined ? [blockKey, 'aiFilename'] : ['aiFilename'])
    }
    if (memory !== undefined) {
      spec.agentInstructions.content = memory
      from(['agentInstructions', 'content'], [memoryKey])
    }
  }

  // Network: allowedDomains/deniedDomains and caps.network.allow/deny append, in that order.
  const allow: string[] = []
  const deny: string[] = []
  const take = (list: string[] | undefined, into: string[], model: 'allow' | 'deny', source: PathSegment[]) => {
    for (const [i, rule] of (list ?? []).entries()) {
      from(['permissions', 'network', model, into.length], [...source, i])
      into.push(rule)
    }
  }
  take(v1.network?.allowedDomains, allow, 'allow', ['network', 'allowedDomains'])
  take(v1.caps?.network?.allow, allow, 'allow', ['caps', 'network', 'allow'])
  take(v1.network?.deniedDomains, deny, 'deny', ['network', 'deniedDomains'])
  take(v1.caps?.network?.deny, deny, 'deny', ['caps', 'network', 'deny'])

  // Credentials, folded as sbx's v1 loader does (spec/normalize.go, normalizeLegacyCredentials and
  // normalizeLegacyOAuthBlock): `credentials:` is a list of v2 entries or a mapping with sources:;
  // a v2 entry for a service suppresses the v1 fold for it; credentials.sources, serviceDomains +
  // serviceAuth and environment.proxyManaged become one credential per service (sorted); a
  // top-level oauth: joins its service's credential or becomes one.
  const serviceDomains = v1.network?.serviceDomains ?? {}
  const serviceAuth = v1.network?.serviceAuth ?? {}
  const listed = Array.isArray(v1.credentials) ? (v1.credentials as Credential[]) : []
  const sources = (!Array.isArray(v1.credentials) ? v1.credentials?.sources : undefined) ?? {}
  const credentials: Credential[] = listed.map((c) => structuredClone(c))
  listed.forEach((_, i) => from(['credentials', i], ['credentials', i]))
  const v2Services = new Set(credentials.map((c) => c.service))
  interface Pending {origin: PathSegment[]; required?: boolean; envName?: string; proxyManaged?: boolean; inject: Inject[]; injectOrigins: PathSegment[][]}
  const pending = new Map<string, Pending>()
  const get = (service: string, origin: PathSegment[]): Pending => {
    let p = pending.get(service)
    if (!p) pending.set(service, (p = {origin, inject: [], injectOrigins: []}))
    return p
  }
  for (const [service, src] of Object.entries(sources)) {
    if (v2Services.has(service)) continue
    const p = get(service, ['credentials', 'sources', service])
    if (src.required) p.required = true
    if (src.env?.length) p.envName = src.env[0]
  }
  for (const domain of Object.keys(serviceDomains).sort()) {
    const service = serviceDomains[domain]
    if (v2Services.has(service)) continue
    const p = get(service, serviceAuth[service] ? ['network', 'serviceAuth', service] : ['network', 'serviceDomains', domain])
    const auth = serviceAuth[service]
    p.inject.push(auth ? {domain, header: auth.headerName, format: auth.valueFormat || '%s'} : {domain})
    p.injectOrigins.push(['network', 'serviceDomains', domain])
    // In v1 a service domain is reachable by being a service domain; v2 spells the allow out.
    if (!allow.includes(domain)) {
      from(['permissions', 'network', 'allow', allow.length], ['network', 'serviceDomains', domain])
      allow.push(domain)
    }
  }
  const envToService = new Map<string, string>()
  for (const [service, src] of Object.entries(sources)) for (const e of src.env ?? []) envToService.set(e, service)
  for (const [i, name] of (v1.environment?.proxyManaged ?? []).entries()) {
    const service = envToService.get(name) ?? deriveServiceKey(name)
    if (v2Services.has(service)) continue
    const p = get(service, ['environment', 'proxyManaged', i])
    p.envName ??= name
    p.proxyManaged = true
  }
  for (const service of [...pending.keys()].sort()) {
    const p = pending.get(service)!
    const credential: Credential = {service}
    if (p.required) credential.required = true
    from(['credentials', credentials.length], p.origin)
    if (p.envName !== undefined || p.inject.length) {
      credential.apiKey = {name: p.envName ?? '', ...(p.proxyManaged ? {proxyManaged: true} : {}), inject: p.inject}
      p.injectOrigins.forEach((o, j) => from(['credentials', credentials.length, 'apiKey', 'inject', j], o))
    }
    credentials.push(credential)
  }
  if (v1.oauth) {
    const o = v1.oauth
    const oauth: NonNullable<Credential['oauth']> = {}
    if (o.tokenEndpoint) oauth.tokenEndpoint = {...o.tokenEndpoint}
    if (o.sentinels) oauth.sentinels = {...o.sentinels}
    if (o.credentialFile) oauth.credentialFile = structuredClone(o.credentialFile)
    if (o.skipIfEnv) oauth.skipIfEnv = [...o.skipIfEnv]
    if (o.responseFields) oauth.responseFields = {...o.responseFields}
    if (o.passthroughResponse !== undefined) oauth.passthrough = o.passthroughResponse
    const i = credentials.findIndex((c) => c.service === o.service)
    if (i === -1) {
      from(['credentials', credentials.length], ['oauth'])
      credentials.push({service: o.service, oauth})
    } else {
      const c = credentials[i]
      from(['credentials', i, 'oauth'], ['oauth'])
      const hosts: string[] = []
      // An apiKey made only of routing domains (serviceDomains without serviceAuth) is OAuth routing.
      if (c.apiKey && !c.apiKey.name && (c.apiKey.inject ?? []).every((inj) => inj.header === undefined)) {
        for (const inj of c.apiKey.inject ?? []) if (inj.domain && inj.domain !== oauth.tokenEndpoint?.host) hosts.push(inj.domain)
        delete c.apiKey
      }
      if (!c.oauth) {
        if (hosts.length) oauth.resourceHosts = hosts.sort()
        c.oauth = oauth
      } else if (hosts.length) {
        c.oauth.resourceHosts = [...new Set([...(c.oauth.resourceHosts ?? []), ...hosts])].sort()
      }
    }
    deprecated(['oauth'], 'the top-level oauth: block is deprecated; it is read as credentials[].oauth of its service (as sbx does)')
  }
  for (const service of Object.keys(sources)) {
    deprecated(['credentials', 'sources', service], `credentials.sources is host-side discovery and is not part of a v2 kit; bind the secret with: kit secret set ${service}`)
  }
  // A service domain without serviceAuth is routing only: sbx injects nothing there (no header), so
  // the v2 model keeps the allow rule and no inject entry.
  for (const [service, p] of pending) {
    const apiKey = credentials.find((c) => c.service === service)?.apiKey
    if (!apiKey) continue
    p.inject.forEach((inj, j) => {
      if (inj.header === undefined) deprecated(p.injectOrigins[j], `service ${service} has no network.serviceAuth entry, so nothing is injected into ${inj.domain} (as in sbx); add serviceAuth.${service} with headerName and valueFormat`)
    })
    apiKey.inject = (apiKey.inject ?? []).filter((inj) => inj.header !== undefined)
  }
  if (v1.environment?.proxyManaged?.length) {
    deprecated(['environment', 'proxyManaged'], 'environment.proxyManaged is deprecated; it is read as credentials[].apiKey.name with proxyManaged: true (as sbx does)')
  }
  if (allow.length || deny.length) {
    spec.permissions = {network: {}}
    if (allow.length) spec.permissions.network!.allow = allow
    if (deny.length) spec.permissions.network!.deny = deny
  }
  if (credentials.length) spec.credentials = credentials

  if (v1.environment?.variables) {
    spec.environment = {variables: {...v1.environment.variables}}
    from(['environment'], ['environment'])
  }

  // commands → setup (initFiles → setup.files).
  const commands = v1.commands
  if (commands?.install || commands?.startup || commands?.initFiles) {
    spec.setup = {}
    if (commands.install) {
      spec.setup.install = commands.install.map((c) => ({...c}))
      from(['setup', 'install'], ['commands', 'install'])
    }
    if (commands.startup) {
      spec.setup.startup = commands.startup.map((c) => ({...c}))
      from(['setup', 'startup'], ['commands', 'startup'])
    }
    if (commands.initFiles) {
      spec.setup.files = commands.initFiles.map((f) => ({...f}))
      from(['setup', 'files'], ['commands', 'initFiles'])
    }
  }

  // volumes (path → options) and tmpfs (path → options) → volumes[].
  const volumes: NonNullable<KitSpec['volumes']> = []
  if (Array.isArray(v1.volumes)) {
    v1.volumes.forEach((v, i) => {
      from(['volumes', volumes.length], ['volumes', i])
      volumes.push({...v})
    })
  } else {
    for (const [path, size] of Object.entries(v1.volumes ?? {})) {
      from(['volumes', volumes.length], ['volumes', path])
      volumes.push(size ? {path, size} : {path})
    }
    if (v1.volumes) deprecated(['volumes'], 'volumes as a mapping is deprecated; use a list of {path, size, mode, type}')
  }
  for (const [path, size] of Object.entries(v1.tmpfs ?? {})) {
    from(['volumes', volumes.length], ['tmpfs', path])
    volumes.push(size ? {path, type: 'tmpfs', size} : {path, type: 'tmpfs'})
  }
  if (v1.tmpfs) deprecated(['tmpfs'], 'tmpfs is deprecated; use volumes with type: tmpfs')
  const ports = [...(v1.publishedPorts ?? []), ...(v1.network?.publishedPorts ?? [])]
  if (ports.length) {
    spec.ports = ports.map((p) => ({...p}))
    from(['ports'], v1.publishedPorts ? ['publishedPorts'] : ['network', 'publishedPorts'])
  }
  const resources = block?.resources ?? v1.resources
  if (resources && (resources.cpu !== undefined || resources.memoryMB !== undefined)) {
    spec.sandbox ??= {}
    spec.sandbox.resources = {}
    if (resources.cpu !== undefined) spec.sandbox.resources.cpu = resources.cpu
    if (resources.memoryMB !== undefined) spec.sandbox.resources.memory = `${resources.memoryMB}m`
  }
  for (const key of ['sourceURL', 'mixins', 'locked', 'licenses'] as const) {
    if (v1[key] !== undefined) (spec as Record<string, unknown>)[key] = v1[key]
  }
  if (volumes.length) spec.volumes = volumes

  for (const key of ['secrets', 'egress', 'settings', 'kitDir', 'persistence', 'build'] as const) {
    if (v1[key] !== undefined) deprecated([key], `${key} is not supported by kit and is ignored`)
  }
  return {spec, origins, warnings}
}
