// `kit migrate`: rewrite a schema v1 spec as schema v2. The original is kept as spec.yaml.bak; the
// new file is written to a temp file, validated, then renamed over the old one.
import {copyFile, rename, rm, writeFile} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'
import {stringify} from 'yaml'
import {KitValidationError, type Diagnostic} from './diagnostics.js'
import {loadKit, validateKit} from './load.js'
import type {KitSpec} from './model.js'

export interface MigrateResult {
  specPath: string
  backupPath?: string
  /** The new spec text. */
  yaml: string
  /** What the migration dropped or changed (v1 fields with no v2 equivalent). */
  warnings: Diagnostic[]
  written: boolean
}

export class MigrateError extends Error {
  readonly code = 'E_MIGRATE'
}

const KEY_ORDER = [
  'schemaVersion', 'kind', 'name', 'version', 'displayName', 'description', 'sourceURL', 'licenses', 'extends', 'mixins', 'requires',
  'locked', 'security', 'args', 'sandbox', 'agentInstructions', 'permissions', 'ports', 'credentials', 'environment', 'setup', 'volumes',
]

export function specToYaml(spec: KitSpec): string {
  const ordered: Record<string, unknown> = {}
  for (const key of KEY_ORDER) if ((spec as Record<string, unknown>)[key] !== undefined) ordered[key] = (spec as Record<string, unknown>)[key]
  for (const [key, value] of Object.entries(spec)) if (!(key in ordered)) ordered[key] = value
  return stringify(ordered, {lineWidth: 0, defaultStringType: 'PLAIN', defaultKeyType: 'PLAIN'})
    .replace(/^schemaVersion: .*$/m, 'schemaVersion: "2"')
}

export async function migrateKit(kitDir: string, opts: {dryRun?: boolean} = {}): Promise<MigrateResult> {
  const kit = await loadKit(kitDir, {checkFileContents: false})
  if (kit.schemaVersion === '2') throw new MigrateError(`${kit.specPath} is already schema v2`)
  const yaml = `# Migrated from schema v1 by kit migrate; the original is ${basename(kit.specPath)}.bak\n` + specToYaml(kit.spec)
  const warnings = kit.warnings.filter((w) => w.code === 'deprecated')
  if (opts.dryRun) return {specPath: kit.specPath, yaml, warnings, written: false}

  const target = join(dirname(kit.specPath), 'spec.yaml')
  const temp = join(dirname(kit.specPath), `.spec.yaml.migrate-${process.pid}`)
  const backupPath = `${kit.specPath}.bak`
  await writeFile(temp, yaml, {flag: 'wx'})
  try {
    // Validate the new file in place of the old one before anything is replaced.
    await copyFile(kit.specPath, backupPath)
    await rename(temp, target)
    if (target !== kit.specPath) await rm(kit.specPath)
    const check = await validateKit(kitDir, {checkFileContents: false})
    if (!check.valid) {
      await copyFile(backupPath, kit.specPath)
      if (target !== kit.specPath) await rm(target, {force: true})
      throw new KitValidationError(check.diagnostics)
    }
  } finally {
    await rm(temp, {force: true})
  }
  // The warnings' positions are in the v1 file, which is now the backup.
  return {specPath: target, backupPath, yaml, warnings: warnings.map((w) => ({...w, file: `${w.file}.bak`})), written: true}
}
