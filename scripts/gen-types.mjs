#!/usr/bin/env node
// Generates TypeScript types from the JSON Schemas in schemas/ (the source of truth) into
// schemas/generated/. With --check, fails (exit 1) when a committed generated file is stale.
import {readFileSync, readdirSync, writeFileSync, existsSync, mkdirSync} from 'node:fs'
import {join, dirname} from 'node:path'
import {fileURLToPath} from 'node:url'
import {compile} from 'json-schema-to-typescript'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const schemaDir = join(root, 'schemas')
const outDir = join(schemaDir, 'generated')
const check = process.argv.includes('--check')
const banner = '/* Generated from schemas/ by scripts/gen-types.mjs (json-schema-to-typescript). Do not edit. */'

let stale = 0
for (const file of readdirSync(schemaDir).filter((f) => f.endsWith('.schema.json')).sort()) {
  const schema = JSON.parse(readFileSync(join(schemaDir, file), 'utf8'))
  const ts = await compile(schema, schema.title ?? file, {
    bannerComment: banner,
    additionalProperties: false,
    cwd: schemaDir,
    style: {singleQuote: true, semi: false, printWidth: 110},
    unreachableDefinitions: true,
  })
  const out = join(outDir, file.replace(/\.schema\.json$/, '.ts'))
  if (check) {
    if (!existsSync(out) || readFileSync(out, 'utf8') !== ts) {
      console.error(`stale generated types: ${out} (run npm run gen:types)`)
      stale++
    }
  } else {
    mkdirSync(outDir, {recursive: true})
    writeFileSync(out, ts)
    console.log(`wrote ${out}`)
  }
}
process.exit(stale ? 1 : 0)
