#!/usr/bin/env node
// Bundles the CLI for the npm package (run by prepack, after tsc): the entry point (cli/main.ts,
// with @oclif/core) and every command become one file each under dist/cli, at the paths tsc
// gives them (oclif.manifest.json names those paths), with the code they share in dist/chunks.
// A command still loads only its own code; start-up loads one file instead of a few hundred.
// Native modules and what loads files next to itself stay in node_modules (external).
import {readdirSync, rmSync} from 'node:fs'
import {join, dirname, relative} from 'node:path'
import {fileURLToPath} from 'node:url'
import {build} from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const entries = [join(root, 'cli', 'main.ts')]
const walk = (dir) => {
  for (const e of readdirSync(dir, {withFileTypes: true})) {
    const p = join(dir, e.name)
    if (e.isDirectory()) walk(p)
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) entries.push(p)
  }
}
walk(join(root, 'cli', 'commands'))
rmSync(join(root, 'dist', 'chunks'), {recursive: true, force: true})

const result = await build({
  absWorkingDir: root,
  entryPoints: entries.map((e) => relative(root, e)),
  outbase: '.',
  outdir: 'dist',
  entryNames: '[dir]/[name]',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  allowOverwrite: true,
  // Module ids in the bundle are paths under this package (node_modules/…), wherever a symlinked
  // node_modules really lives: the output names no directory of the machine that packed it.
  preserveSymlinks: true,
  metafile: true,
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
  // Native addons (keychain, ssh2 under dockerode) and packages resolved at run time.
  external: ['@napi-rs/keyring', 'dockerode', 'typescript', 'ts-node', 'tsx'],
  // CommonJS dependencies call require(): give the ES module output a real one.
  banner: {js: "import {createRequire as __kitCreateRequire} from 'node:module';const require = __kitCreateRequire(import.meta.url);"},
})
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
console.log(`bundled ${entries.length} entry points into dist/cli and dist/chunks (${(bytes / 1e6).toFixed(1)} MB)`)
