// `kit migrate DIR --to 3`: a schema v1/v2 kit (spec.yaml + files/) rewritten as a v3 kit:
// `<name>.yaml` (the descriptor) and, where the kit has content, `<name>.dockerfile` (FROM the v2
// image, ENV, files/home copied into the agent's home). The v2 spec is kept as spec.yaml.bak. The
// new kit is validated in place before anything is kept; on failure the directory is restored.
import {access, rename, rm, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {parse, stringify} from 'yaml'
import {KitValidationError, type Diagnostic} from '../diagnostics.js'
import {loadKit} from '../load.js'
import type {KitSpec, KitSpecV1} from '../model.js'
import {normalizeV1, normalizeV2} from '../normalize.js'
import {T} from './descriptor.js'
import {covers, validateV3Dir} from './validate.js'

export interface MigrateV3Result {
  descriptorPath: string
  dockerfilePath?: string
  backupPath?: string
  yaml: string
  dockerfile?: string
  /** What has no v3 equivalent and was left out. */
  warnings: Diagnostic[]
  written: boolean
}

export class MigrateV3Error extends Error {
  readonly code = 'E_MIGRATE'
}

const ARG_REF = /\$\{\{\s*kit\.args\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}/g

/** The v3 descriptor and recipe of a (normalised) v2 kit. */
export function v2ToV3(spec: KitSpec, o: {hasHomeFiles: boolean; hasWorkspaceFiles: boolean; file: string}): {descriptor: Record<string, unknown>; dockerfile?: string; warnings: Diagnostic[]} {
  const warnings: Diagnostic[] = []
  const warn = (message: string) => warnings.push({severity: 'warning', file: o.file, code: 'migrate-dropped', message})
  const argName = (n: string) => n.replace(/-/g, '_')
  const renameRefs = <T>(v: T): T => {
    if (typeof v === 'string') return v.replace(ARG_REF, (_w, n: string) => `\${{ kit.args.${argName(n)} }}`) as T
    if (Array.isArray(v)) return v.map(renameRefs) as T
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, renameRefs(x)])) as T
    return v
  }
  const s = renameRefs(spec)
  const workload = s.kind === 'sandbox'
  const d: Record<string, unknown> = {schemaVersion: '3', kind: workload ? 'workload' : 'mixin'}
  if (s.displayName) d.displayName = s.displayName
  if (s.description) d.description = s.description
  if (s.sourceURL) d.sourceUrl = s.sourceURL
  if (s.licenses?.length) d.licenses = s.licenses
  if (s.version) d.version = s.version
  // v2 kits are required and identified by name: the v3 kit provides it (versioned by version: or the tag).
  d.provides = [s.version ? `${s.name}@${s.version}` : s.name]
  if (s.requires?.agent) d.requires = [s.requires.agent]
  if (s.args && Object.keys(s.args).length) {
    d.args = Object.fromEntries(Object.entries(s.args).map(([n, a]) => [argName(n), {...a}]))
  }
  const hasInstall = (s.setup?.install?.length ?? 0) > 0
  const phases = hasInstall ? ['install', 'runtime'] : ['runtime']
  const caps: Record<string, unknown>[] = []
  const net = s.permissions?.network
  if (net && (net.allow?.length || net.deny?.length)) {
    const rules: Record<string, unknown> = {}
    if (net.allow?.length) rules.allow = net.allow
    if (net.deny?.length) rules.deny = net.deny
    caps.push({type: T.NetworkPolicy1, config: Object.fromEntries(phases.map((p) => [p, structuredClone(rules)]))})
  }
  for (const c of s.credentials ?? []) {
    const config: Record<string, unknown> = {service: c.service, phase: phases.length === 1 ? phases[0] : phases}
    if (c.apiKey) {
      const apiKey: Record<string, unknown> = {name: c.apiKey.name}
      if (c.apiKey.proxyManaged) apiKey.proxyManaged = true
      if (c.apiKey.inject?.length) {
        // v2 injected only where some allow rule let the request through; v3 requires that in the descriptor (§11).
        const allowed = c.apiKey.inject.filter((r) => (net?.allow ?? []).some((a) => covers(a, r.domain)))
        for (const r of c.apiKey.inject) if (!allowed.includes(r)) warn(`credentials[${c.service}]: inject domain ${r.domain} is not allowed by the network rules, so v2 never injected there; dropped`)
        if (allowed.length) apiKey.inject = allowed.map((r) => {
          const out: Record<string, unknown> = {domain: r.domain}
          if (r.scheme === 'bearer') Object.assign(out, {header: r.header ?? 'Authorization', format: r.format ?? 'Bearer %s'})
          else if (r.scheme === 'basic') Object.assign(out, {scheme: 'basic', ...(r.username ? {username: r.username} : {})})
          else {
            if (r.header) out.header = r.header
            if (r.format) out.format = r.format
          }
          return out
        })
      }
      config.apiKey = apiKey
    }
    if (c.oauth) {
      const {skipIfEnv, ...oauth} = c.oauth as Record<string, unknown>
      if (skipIfEnv) warn(`credentials[${c.service}].oauth.skipIfEnv has no v3 equivalent; dropped`)
      const file = oauth.credentialFile as Record<string, unknown> | undefined
      if (file?.template !== undefined) {
        // credential@1 describes the file by `structure` (data), not by a Go template (sbx v2 only).
        const {template: _template, ...rest} = file
        warn(`credentials[${c.service}].oauth.credentialFile.template has no v3 equivalent (credential@1 takes structure); dropped, so the credential file is not written`)
        oauth.credentialFile = rest
      }
      config.oauth = oauth
    }
    if (c.provider) warn(`credentials[${c.service}].provider has no v3 equivalent; dropped`)
    caps.push({type: T.Credential, ...(c.required ? {} : {optional: true}), ...(c.description ? {description: c.description} : {}), config})
  }
  const lifecycle: Record<string, unknown> = {}
  if (s.setup?.install?.length) lifecycle.install = s.setup.install.map((h) => ({command: h.command, ...(h.user ? {user: h.user} : {}), ...(h.description ? {description: h.description} : {})}))
  if (s.setup?.startup?.length) lifecycle.startup = s.setup.startup.map((h) => ({command: h.command, ...(h.user ? {user: h.user} : {}), ...(h.background ? {background: true} : {}), ...(h.description ? {description: h.description} : {})}))
  if (s.setup?.files?.length) {
    lifecycle.files = s.setup.files.map((f) => ({path: f.path, content: f.content, ...(f.mode ? {mode: f.mode} : {}), ...(f.onlyIfMissing ? {overwrite: false} : {}), ...(f.description ? {description: f.description} : {})}))
  }
  const command = s.sandbox?.command
  if (command && !Array.isArray(command) && command.interactive?.length) lifecycle.interactive = command.interactive
  if (Object.keys(lifecycle).length) caps.push({type: T.Lifecycle, config: lifecycle})
  if (s.agentInstructions?.content) {
    caps.push({type: T.AgentContext, config: {...(s.agentInstructions.filename ? {filename: s.agentInstructions.filename} : {}), content: s.agentInstructions.content}})
  }
  const res = s.sandbox?.resources as {cpu?: number; memory?: string} | undefined
  if (res && (res.cpu !== undefined || res.memory !== undefined)) caps.push({type: T.Resources, config: {...(res.cpu !== undefined ? {cpu: Number(res.cpu)} : {}), ...(res.memory ? {memory: String(res.memory)} : {})}})
  for (const p of s.ports ?? []) caps.push({type: T.Port, config: {container: p.container, ...(p.protocol ? {transport: p.protocol} : {}), ...(p.name ? {name: p.name} : {})}})
  for (const v of s.volumes ?? []) caps.push({type: T.Volume, config: {path: v.path, ...(v.size ? {size: v.size} : {}), ...(v.mode ? {mode: v.mode} : {}), ...(v.type === 'tmpfs' ? {tmpfs: true} : {})}})
  if (s.security?.privileged) caps.push({type: T.Privileged})
  if (caps.length) d.capabilities = caps
  if (s.environment?.proxyManaged?.length) warn('environment.proxyManaged: in v3 a proxy-managed value is a credential@1 apiKey with proxyManaged: true; not migrated')
  if (s.locked?.length) warn('locked has no v3 equivalent (no extends); dropped')
  if ((s as {extends?: string}).extends) warn('extends has no v3 equivalent: build FROM the parent image instead; dropped')
  if (s.sandbox?.build) warn('sandbox.build: write the recipe into the .dockerfile by hand; dropped')
  if (o.hasWorkspaceFiles) warn('files/workspace: the workspace is the user\'s, mounted at run time; v3 has no equivalent, not migrated')

  // The recipe: the image config carries the runtime contract (§8); files/home lands in the agent's home.
  const lines: string[] = []
  // An env value that is one whole create-phase arg reference becomes the arg's env: export (§6);
  // the rest are image ENV, fixed at build.
  const env: Array<[string, string]> = []
  for (const [k, v] of Object.entries(s.environment?.variables ?? {})) {
    const whole = /^\$\{\{\s*kit\.args\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/.exec(v)
    const args = d.args as Record<string, Record<string, unknown>> | undefined
    if (whole && args?.[whole[1]!] && !args[whole[1]!]!.env) args[whole[1]!]!.env = k
    else if (v.includes('${{')) warn(`environment.variables.${k} embeds an arg reference in a longer value; v3 exports an arg only whole (args.NAME.env): not migrated`)
    else env.push([k, v])
  }
  if (workload) {
    if (!s.sandbox?.image) throw new MigrateV3Error(`${o.file}: a sandbox kit without sandbox.image has no root filesystem to migrate`)
    lines.push(`FROM ${s.sandbox.image}`)
  } else if (o.hasHomeFiles || env.length) {
    lines.push('FROM scratch')
  }
  if (lines.length) {
    if (o.hasHomeFiles) lines.push('COPY --chown=1000:1000 files/home/ /home/agent/')
    for (const [k, v] of env) lines.push(`ENV ${k}=${JSON.stringify(v)}`)
    if (s.sandbox?.entrypoint) lines.push(`ENTRYPOINT ${JSON.stringify(s.sandbox.entrypoint)}`)
    const cmd = Array.isArray(command) ? command : command?.default
    if (cmd) lines.push(`CMD ${JSON.stringify(cmd)}`)
  }
  return {descriptor: d, dockerfile: lines.length ? lines.join('\n') + '\n' : undefined, warnings}
}

const exists = (p: string) => access(p).then(() => true, () => false)

export async function migrateToV3(kitDir: string, opts: {dryRun?: boolean} = {}): Promise<MigrateV3Result> {
  const kit = await loadKit(kitDir, {checkFileContents: false})
  // The loader substitutes arg defaults for checking; the migration keeps the references as written.
  const raw = parse(kit.specBytes.toString('utf8')) as Record<string, unknown>
  const spec = (kit.schemaVersion === '1' ? normalizeV1(raw as unknown as KitSpecV1) : normalizeV2(raw)).spec
  const isDir = async (p: string) => (await stat(p).catch(() => undefined))?.isDirectory() === true
  const conv = v2ToV3(spec, {file: kit.specPath, hasHomeFiles: await isDir(join(kit.dir, 'files', 'home')), hasWorkspaceFiles: await isDir(join(kit.dir, 'files', 'workspace'))})
  const yaml = `# syntax=docker/sandbox-kit:3\n# Migrated from schema v${kit.schemaVersion} by kit migrate --to 3; the original is spec.yaml.bak\n` +
    stringify(conv.descriptor, {lineWidth: 0, aliasDuplicateObjects: false}).replace(/^schemaVersion: .*$/m, 'schemaVersion: "3"')
  const descriptorPath = join(kit.dir, `${kit.spec.name}.yaml`)
  const dockerfilePath = conv.dockerfile ? join(kit.dir, `${kit.spec.name}.dockerfile`) : undefined
  const result = {descriptorPath, dockerfilePath, yaml, dockerfile: conv.dockerfile, warnings: conv.warnings}
  if (opts.dryRun) return {...result, written: false}
  for (const p of [descriptorPath, dockerfilePath]) if (p && (await exists(p))) throw new MigrateV3Error(`${p} exists; move it away first`)
  const backupPath = `${kit.specPath}.bak`
  if (await exists(backupPath)) throw new MigrateV3Error(`${backupPath} exists; move it away first`)
  await writeFile(descriptorPath, yaml, {flag: 'wx'})
  if (dockerfilePath) await writeFile(dockerfilePath, conv.dockerfile!, {flag: 'wx'})
  await rename(kit.specPath, backupPath)
  const check = await validateV3Dir(kit.dir)
  if (!check?.valid) {
    await rename(backupPath, kit.specPath)
    await rm(descriptorPath, {force: true})
    if (dockerfilePath) await rm(dockerfilePath, {force: true})
    throw new KitValidationError(check?.diagnostics ?? [{severity: 'error', file: descriptorPath, code: 'migrate', message: 'the migrated descriptor was not found'}])
  }
  return {...result, backupPath, written: true}
}
