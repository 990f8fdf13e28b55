#!/usr/bin/env node
// npm's prepare step. In a clone (`npm ci`): compile dist/ with tsc, so that bin/kit runs. Skipped
// where there is nothing to do: without the dev dependencies (`npm ci --omit=dev` on a machine that
// only runs a built tree) and during `npm pack`/`npm publish`, whose prepack step has already
// compiled and bundled dist/ (a tsc run here would replace the bundle with plain tsc output).
import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {join, dirname} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
if (process.env.npm_command === 'pack' || process.env.npm_command === 'publish') process.exit(0)
if (!existsSync(tsc)) {
  console.error('prepare: typescript is not installed (npm ci --omit=dev?): dist/ not rebuilt')
  process.exit(0)
}
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], {cwd: root, stdio: 'inherit'})
