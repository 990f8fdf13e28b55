// Generates a synthetic kit: N text files totalling about SIZE bytes, in nested directories.
// Usage: node gen-synthetic.mjs DIR [files=10000] [bytes=104857600]
import {mkdirSync, writeFileSync, chmodSync} from 'node:fs'
import {join} from 'node:path'

const [dir, filesArg = '10000', bytesArg = '104857600'] = process.argv.slice(2)
if (!dir) throw new Error('usage: gen-synthetic.mjs DIR [files] [bytes]')
const files = Number(filesArg)
const per = Math.floor(Number(bytesArg) / files)
writeFileSync(join(dir, 'spec.yaml'), 'schemaVersion: "2"\nkind: mixin\nname: synthetic\nversion: 1.0.0\ndescription: A synthetic kit for the build benchmark\n')
// Text that compresses like source code: words from a small vocabulary, a seeded PRNG.
const words = ['const', 'function', 'return', 'import', 'export', 'value', 'index', 'result', 'error', 'string',
  'number', 'await', 'async', 'if', 'else', 'for', 'while', 'kit', 'layer', 'digest', 'sandbox', 'agent', '=', '{', '}', '(', ')', ';']
let seed = 42
const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
for (let i = 0; i < files; i++) {
  const top = i % 2 === 0 ? 'home' : 'workspace'
  const sub = join(dir, 'files', top, `d${Math.floor(i / 100) % 10}`, `e${Math.floor(i / 10) % 10}`)
  mkdirSync(sub, {recursive: true})
  let text = ''
  while (text.length < per) {
    let line = ''
    const n = 4 + Math.floor(rand() * 10)
    for (let w = 0; w < n; w++) line += words[Math.floor(rand() * words.length)] + (rand() < 0.1 ? String(Math.floor(rand() * 1000)) : '') + ' '
    text += line.trimEnd() + '\n'
  }
  const path = join(sub, `f${i}.txt`)
  writeFileSync(path, text.slice(0, per))
  if (i % 50 === 0) chmodSync(path, 0o755)
}
