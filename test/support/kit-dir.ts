// Throw-away kit directories for tests: a spec text and optional files, in a fresh temp dir.
import {chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

const made: string[] = []

export function makeKit(spec: string, files: Record<string, string | {content: string; mode: number}> = {}, specName = 'spec.yaml'): string {
  const dir = mkdtempSync(join(tmpdir(), 'kit-test-'))
  made.push(dir)
  writeFileSync(join(dir, specName), spec)
  for (const [rel, body] of Object.entries(files)) {
    const path = join(dir, rel)
    mkdirSync(dirname(path), {recursive: true})
    if (typeof body === 'string') writeFileSync(path, body)
    else {
      writeFileSync(path, body.content)
      chmodSync(path, body.mode)
    }
  }
  return dir
}

export function cleanupKits(): void {
  for (const dir of made.splice(0)) rmSync(dir, {recursive: true, force: true})
}

/** A minimal valid v2 mixin spec with extra YAML appended. */
export function mixin(extra = '', name = 'test-mixin'): string {
  return `schemaVersion: "2"\nkind: mixin\nname: ${name}\n${extra}`
}

/** A minimal valid v2 sandbox spec with extra YAML appended. */
export function sandbox(extra = '', name = 'test-agent'): string {
  return `schemaVersion: "2"\nkind: sandbox\nname: ${name}\nsandbox:\n  image: example/agent:1\n  entrypoint: [agent]\n${extra}`
}
