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
const after = readFileSync(file, 'utf8')
if (check) {
  if (before !== undefined) writeFileSync(file, before)
  if (before !== after) {
    console.error('oclif.manifest.json is stale (run npm run manifest and commit it)')
    process.exit(1)
  }
}
