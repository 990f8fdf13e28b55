#!/usr/bin/env node
// Writes docs/commands.md, the command reference, from oclif.manifest.json (kit's commands) and
// the manifests of the oclif plugins kit loads (help, autocomplete). Generated output: npm's
// prepack runs it so that the reference ships in the package; it is not committed (.gitignore).
import {existsSync, mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const bin = pjson.oclif.bin
const sep = pjson.oclif.topicSeparator ?? ':'

const commands = Object.values(JSON.parse(readFileSync(join(root, 'oclif.manifest.json'), 'utf8')).commands)
for (const plugin of pjson.oclif.plugins ?? []) {
  const file = join(root, 'node_modules', ...plugin.split('/'), 'oclif.manifest.json')
  if (existsSync(file)) commands.push(...Object.values(JSON.parse(readFileSync(file, 'utf8')).commands))
}
const visible = commands.filter((c) => !c.hidden).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
const name = (id) => id.split(':').join(sep)
const anchor = (id) => `${bin}-${id.split(':').join('-')}`
const render = (s) => String(s ?? '').replaceAll('<%= config.bin %>', bin)

const flagUsage = (f) => {
  const short = f.char ? `-${f.char}, ` : ''
  const value = f.type === 'option' ? (f.options ? `=${f.options.join('|')}` : '=VALUE') : ''
  return `${short}--${f.allowNo ? '[no-]' : ''}${f.name}${value}`
}

const out = [
  `# ${bin} command reference`,
  '',
  `Generated from oclif.manifest.json by \`npm run docs\` (${pjson.name} ${pjson.version}); \`${bin} help COMMAND\` prints the same.`,
  'Every command also takes `--json` (one JSON object on stdout; errors as `{"error":{"code","message"}}`) and `--debug`.',
  `Usage errors (unknown command or flag, missing argument) are one line on stderr and exit 2.`,
  '',
  ...visible.map((c) => `- [\`${bin} ${name(c.id)}\`](#${anchor(c.id)})`),
  '',
]
for (const c of visible) {
  const args = Object.values(c.args ?? {})
  const flags = Object.values(c.flags ?? {}).filter((f) => !f.hidden && f.helpGroup !== 'GLOBAL')
  const usage = [bin, name(c.id), ...args.map((a) => (a.required ? a.name.toUpperCase() : `[${a.name.toUpperCase()}]`)), ...(flags.length ? ['[FLAGS]'] : [])]
  out.push(`## \`${bin} ${name(c.id)}\``, '', render(c.description ?? c.summary), '', '```', usage.join(' '), '```', '')
  if (c.aliases?.length) out.push(`Aliases: ${c.aliases.map((a) => `\`${bin} ${name(a)}\``).join(', ')}`, '')
  if (args.length) {
    out.push('| Argument | |', '|---|---|')
    for (const a of args) out.push(`| \`${a.name.toUpperCase()}\`${a.required ? '' : ' (optional)'} | ${render(a.description).replaceAll('|', '\\|')} |`)
    out.push('')
  }
  if (flags.length) {
    out.push('| Flag | |', '|---|---|')
    for (const f of flags) {
      const extra = [f.required ? 'required' : '', f.default !== undefined && f.default !== false ? `default: \`${f.default}\`` : '', f.multiple ? 'repeatable' : ''].filter(Boolean).join('; ')
      out.push(`| \`${flagUsage(f)}\` | ${render(f.description).replaceAll('|', '\\|')}${extra ? ` (${extra})` : ''} |`)
    }
    out.push('')
  }
  const examples = (Array.isArray(c.examples) ? c.examples : c.examples ? [c.examples] : []).map((e) => render(typeof e === 'string' ? e : e.command))
  if (examples.length) out.push('```sh', ...examples, '```', '')
}
const file = join(root, 'docs', 'commands.md')
mkdirSync(dirname(file), {recursive: true})
writeFileSync(file + '.tmp', out.join('\n'))
renameSync(file + '.tmp', file)
console.log(`wrote docs/commands.md (${visible.length} commands)`)
