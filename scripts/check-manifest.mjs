#!/usr/bin/env node
// Regenerates oclif.manifest.json (which oclif trusts for command discovery: a stale one hides new
// commands) and, with --check, fails when the committed file differs from what the commands say.
import {execFileSync} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join, dirname} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const file = join(root, 'oclif.manifest.json')
const check = process.argv.includes('--check')
const before = existsSync(file) ? readFileSync(file, 'utf8') : undefined
// OCLIF_SKIP_NEW_VERSION_CHECK: the oclif dev CLI would otherwise ask the npm registry for updates.
execFileSync(process.execPath, [join(root, 'node_modules', 'oclif', 'bin', 'run.js'), 'manifest'], {
  cwd: root,
  stdio: ['ignore', 'ignore', 'inherit'],
  env: {...process.env, OCLIF_SKIP_NEW_VERSION_CHECK: 'true'},
})
// oclif lists commands in the order the file system returns them, which differs between clones:
// sort them by id so the committed file is the same wherever it is generated.
const manifest = JSON.parse(readFileSync(file, 'utf8'))
manifest.commands = Object.fromEntries(Object.entries(manifest.commands).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
const after = JSON.stringify(manifest, null, 2) + '\n'
writeFileSync(file, after)
if (check) {
  if (before !== undefined) writeFileSync(file, before)
  if (before !== after) {
    console.error('oclif.manifest.json is stale (run npm run manifest and commit it)')
    process.exit(1)
  }
}
