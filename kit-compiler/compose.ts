// Composition: exactly one sandbox (agent) kit plus mixins, merged in the order given, with the
// rules of kit-format.md §5. Every conflict that is resolved (an env variable or a file overridden)
// is reported, never hidden; hard conflicts are errors and nothing is composed.
import {setsPath} from './extends.js'
import type {KitFileEntry} from './files.js'
import type {Credential, InstallCommand, KitSpec, Port, SetupFile, StartupCommand, Volume} from './model.js'

export interface ComposeInput {
  spec: KitSpec
  /** The kit's layer entries (files/home → home/agent/..., files/workspace → workspace/...). */
  files?: KitFileEntry[]
  /** How the kit was referenced (a directory, a store reference, a digest), for reports. */
  ref?: string
}

type From<T> = T & {kit: string}

export interface ComposedSandbox {
  agent: {
    name: string
    image: string
    entrypoint: string[]
    command: {default: string[]; interactive: string[]}
    resources: {cpu?: number; memory?: string}
  }
  /** The kits in composition order (the agent first). */
  kits: Array<{name: string; kind: KitSpec['kind']; version?: string; ref?: string}>
  network: {allow: Array<{rule: string; kit: string}>; deny: Array<{rule: string; kit: string}>}
  credentials: Array<From<Credential>>
  environment: Record<string, string>
  /** Which kit set each environment variable (the last one). */
  environmentSources: Record<string, string>
  install: Array<From<InstallCommand>>
  startup: Array<From<StartupCommand>>
  /** setup.files after overrides (a later kit's path wins), in order. */
  files: Array<From<SetupFile>>
  /** Layer entries after overlay by target path, sorted by path; `kit` is the kit that provides it. */
  layerFiles: Array<From<KitFileEntry>>
  ports: Array<From<Port>>
  volumes: Array<From<Volume>>
  privileged: boolean
  memory: {filename?: string; content?: string; sections: Array<{kit: string; content: string}>}
}

export type ConflictKind = 'env-override' | 'file-overwrite' | 'setup-file-overwrite' | 'volume-override'

export interface Conflict {
  kind: ConflictKind
  /** The variable name or path. */
  key: string
  /** The kit whose value was replaced, and the kit whose value won. */
  overridden: string
  by: string
  message: string
}

export class CompositionError extends Error {
  readonly code = 'E_COMPOSITION'
  constructor(message: string) {
    super(message)
    this.name = 'CompositionError'
  }
}

/** Composes one sandbox kit and mixins given in any order (the sandbox kit is found by kind). */
export function composeKitList(kits: readonly ComposeInput[]): {sandbox: ComposedSandbox; conflicts: Conflict[]} {
  const agents = kits.filter((k) => k.spec.kind === 'sandbox')
  if (agents.length === 0) throw new CompositionError(`no sandbox (agent) kit among ${kits.map((k) => k.spec.name).join(', ') || 'the kits given'}: exactly one is needed`)
  if (agents.length > 1) throw new CompositionError(`two sandbox (agent) kits: ${agents.map((k) => k.spec.name).join(' and ')}; exactly one is allowed`)
  return composeKits(agents[0], kits.filter((k) => k !== agents[0]))
}

export function composeKits(agent: ComposeInput, mixins: readonly ComposeInput[]): {sandbox: ComposedSandbox; conflicts: Conflict[]} {
  if (agent.spec.kind !== 'sandbox') throw new CompositionError(`kit ${agent.spec.name} is a ${agent.spec.kind}, not a sandbox (agent) kit`)
  const extra = mixins.find((m) => m.spec.kind !== 'mixin')
  if (extra) throw new CompositionError(`two sandbox (agent) kits: ${agent.spec.name} and ${extra.spec.name}; exactly one is allowed`)
  const all = [agent, ...mixins]
  const names = new Set<string>()
  for (const kit of all) {
    if (names.has(kit.spec.name)) throw new CompositionError(`kit name ${kit.spec.name} appears twice in the composition`)
    names.add(kit.spec.name)
  }
  for (const mixin of mixins) {
    const wanted = mixin.spec.requires?.agent
    if (wanted && wanted !== agent.spec.name && wanted !== agent.spec.extends) {
      throw new CompositionError(`kit ${mixin.spec.name} requires agent ${wanted}, but the agent kit is ${agent.spec.name}`)
    }
  }
  const image = agent.spec.sandbox?.image
  if (!image) throw new CompositionError(`agent kit ${agent.spec.name} has no sandbox.image${agent.spec.extends ? ` (extends ${agent.spec.extends}: resolve the parent first)` : ''}`)

  const conflicts: Conflict[] = []
  const command = agent.spec.sandbox?.command
  const defaultArgs = Array.isArray(command) ? command : command?.default ?? []
  const interactiveArgs = Array.isArray(command) ? command : command?.interactive ?? defaultArgs
  const memory = agent.spec.sandbox?.resources?.memory
  const cpu = agent.spec.sandbox?.resources?.cpu
  const sandbox: ComposedSandbox = {
    agent: {
      name: agent.spec.name,
      image,
      entrypoint: [...(agent.spec.sandbox?.entrypoint ?? [])],
      command: {default: [...defaultArgs], interactive: [...interactiveArgs]},
      resources: {...(cpu !== undefined ? {cpu: Number(cpu)} : {}), ...(memory !== undefined ? {memory} : {})},
    },
    kits: all.map((k) => ({name: k.spec.name, kind: k.spec.kind, ...(k.spec.version ? {version: k.spec.version} : {}), ...(k.ref ? {ref: k.ref} : {})})),
    network: {allow: [], deny: []},
    credentials: [],
    environment: {},
    environmentSources: {},
    install: [],
    startup: [],
    files: [],
    layerFiles: [],
    ports: [],
    volumes: [],
    privileged: false,
    memory: {sections: []},
  }
  if (agent.spec.agentInstructions?.filename) sandbox.memory.filename = agent.spec.agentInstructions.filename
  if (agent.spec.agentInstructions?.content) sandbox.memory.content = agent.spec.agentInstructions.content

  const locks: Array<{path: string; kit: string}> = []
  const credentialOwner = new Map<string, string>()
  const layer = new Map<string, From<KitFileEntry>>()
  const setupFiles = new Map<string, From<SetupFile>>()
  const volumes = new Map<string, From<Volume>>()

  for (const {spec, files} of all) {
    const kit = spec.name
    for (const lock of locks) {
      if (setsPath(spec, lock.path)) throw new CompositionError(`kit ${kit} sets ${lock.path}, which kit ${lock.kit} locks`)
    }
    for (const rule of spec.permissions?.network?.allow ?? []) sandbox.network.allow.push({rule, kit})
    for (const rule of spec.permissions?.network?.deny ?? []) sandbox.network.deny.push({rule, kit})
    for (const cred of spec.credentials ?? []) {
      const owner = credentialOwner.get(cred.service)
      if (owner) throw new CompositionError(`credential service ${cred.service} is declared by both ${owner} and ${kit}`)
      credentialOwner.set(cred.service, kit)
      sandbox.credentials.push({...cred, kit})
    }
    for (const [name, value] of Object.entries(spec.environment?.variables ?? {})) {
      const previous = sandbox.environmentSources[name]
      if (previous !== undefined && sandbox.environment[name] !== value) {
        conflicts.push({kind: 'env-override', key: name, overridden: previous, by: kit, message: `environment variable ${name} set by ${previous} is overridden by ${kit}`})
      }
      sandbox.environment[name] = value
      sandbox.environmentSources[name] = kit
    }
    for (const c of spec.setup?.install ?? []) sandbox.install.push({...c, kit})
    for (const c of spec.setup?.startup ?? []) sandbox.startup.push({...c, kit})
    for (const f of spec.setup?.files ?? []) {
      const previous = setupFiles.get(f.path)
      if (previous && previous.kit !== kit) {
        conflicts.push({kind: 'setup-file-overwrite', key: f.path, overridden: previous.kit, by: kit, message: `setup file ${f.path} from ${previous.kit} is overwritten by ${kit}`})
      }
      setupFiles.delete(f.path) // re-insert: the winner keeps the position of the later kit
      setupFiles.set(f.path, {...f, kit})
    }
    for (const entry of files ?? []) {
      const previous = layer.get(entry.path)
      if (previous && entry.type === 'file' && previous.kit !== kit) {
        conflicts.push({kind: 'file-overwrite', key: entry.path, overridden: previous.kit, by: kit, message: `file ${entry.path} from ${previous.kit} is overwritten by ${kit}`})
      }
      if (!previous || entry.type === 'file') layer.set(entry.path, {...entry, kit})
    }
    for (const p of spec.ports ?? []) sandbox.ports.push({...p, kit})
    for (const v of spec.volumes ?? []) {
      const previous = volumes.get(v.path)
      if (previous && previous.kit !== kit) {
        conflicts.push({kind: 'volume-override', key: v.path, overridden: previous.kit, by: kit, message: `volume ${v.path} from ${previous.kit} is replaced by ${kit}`})
      }
      volumes.set(v.path, {...v, kit})
    }
    if (spec.security?.privileged) sandbox.privileged = true
    if (spec.kind === 'mixin' && spec.agentInstructions?.content) sandbox.memory.sections.push({kit, content: spec.agentInstructions.content})
    for (const path of spec.locked ?? []) locks.push({path, kit})
  }
  sandbox.files = [...setupFiles.values()]
  sandbox.layerFiles = [...layer.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  sandbox.volumes = [...volumes.values()]
  return {sandbox, conflicts}
}
