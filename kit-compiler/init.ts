// `kit init`: scaffold a kit directory (spec.yaml, files/home, files/workspace, README.md).
import {mkdir, readdir, writeFile} from 'node:fs/promises'
import {basename, join, resolve} from 'node:path'
import type {KitKind} from './model.js'
import {NAME_RE} from './validate.js'

export class InitError extends Error {
  readonly code = 'E_INIT'
}

export interface InitOptions {
  kind: KitKind
  name?: string
  /** The JSON Schema editors validate spec.yaml against (a path or URL): written as the first line, `# yaml-language-server: $schema=...`. */
  schema?: string
}

export async function scaffoldKit(dir: string, opts: InitOptions): Promise<{dir: string; name: string; files: string[]}> {
  const root = resolve(dir)
  const name = opts.name ?? basename(root)
  if (!NAME_RE.test(name)) {
    throw new InitError(`kit name "${name}" is invalid: use 1-64 lower-case letters, digits and hyphens (pass --name)`)
  }
  const existing = await readdir(root).catch(() => undefined)
  if (existing && existing.length > 0) throw new InitError(`${dir} exists and is not empty`)
  const body = opts.kind === 'sandbox' ? sandboxSpec(name) : mixinSpec(name)
  const spec = opts.schema ? `# yaml-language-server: $schema=${opts.schema}\n${body}` : body
  const files: Record<string, string> = {
    'spec.yaml': spec,
    'README.md': `# ${name}\n\nA kit ${opts.kind}. Validate it with \`kit validate .\`, build it with \`kit build .\`.\n\n` +
      'Files under `files/home/` are copied to /home/agent in the sandbox, files under `files/workspace/` into the workspace.\n',
  }
  for (const sub of ['files/home', 'files/workspace']) await mkdir(join(root, sub), {recursive: true})
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(join(root, rel, '..'), {recursive: true})
    await writeFile(join(root, rel), content, {flag: 'wx'})
  }
  return {dir: root, name, files: Object.keys(files)}
}

function mixinSpec(name: string): string {
  return `schemaVersion: "2"
kind: mixin
name: ${name}
version: "0.1.0"
description: What this kit adds to a sandbox.
agentInstructions:
  content: |
    ## ${name}
    Tell the agent what this kit provides and how to use it.
permissions:
  network:
    allow: []      # hosts the kit needs, e.g. registry.npmjs.org or api.example.com:8443
setup:
  install: []      # - command: "apt-get install -y jq"   (run once as root, with sh -c)
`
}

function sandboxSpec(name: string): string {
  return `schemaVersion: "2"
kind: sandbox
name: ${name}
version: "0.1.0"
description: An agent for kit sandboxes.
sandbox:
  image: localhost/kit-shell-agent:bookworm
  entrypoint: [bash, -l]
  command:
    default: []
    interactive: []
agentInstructions:
  filename: AGENTS.md
  content: |
    You are an agent running in a kit sandbox.
permissions:
  network:
    allow: []
credentials: []
environment:
  variables:
    IS_SANDBOX: "1"
`
}
