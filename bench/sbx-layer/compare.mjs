// For each kit: kit's layer as built, kit's layer with directory entries left out and every file
// 0644, and the Go-written one: gzip headers (10 bytes), whether the tars are identical, sizes.
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {gunzipSync} from 'node:zlib'
import {loadKit} from '../../dist/kit-compiler/load.js'
import {writeLayer} from '../../dist/kit-compiler/layer.js'

const out = process.env.OUT
for (const dir of process.argv.slice(2)) {
  const kit = await loadKit(dir)
  await writeLayer(kit.files, join(out, 'kit.tar.gz'))
  await writeLayer(kit.files.filter((f) => f.type === 'file').map((f) => ({...f, mode: 0o644})), join(out, 'kit-files-0644.tar.gz'))
  execFileSync(process.env.SBXLAYER, [dir, join(out, 'go.tar.gz'), join(out, 'go.tar')])
  const kgz = readFileSync(join(out, 'kit.tar.gz'))
  const fgz = readFileSync(join(out, 'kit-files-0644.tar.gz'))
  const ggz = readFileSync(join(out, 'go.tar.gz'))
  const gtar = readFileSync(join(out, 'go.tar'))
  const ftar = gunzipSync(fgz)
  const differing = []
  for (let i = 0; i < Math.min(ftar.length, gtar.length); i++) if (ftar[i] !== gtar[i]) differing.push(i % 512)
  console.log(JSON.stringify({
    kit: kit.spec.name,
    gzipHeader: {kit: kgz.subarray(0, 10).toString('hex'), go: ggz.subarray(0, 10).toString('hex')},
    tarIdentical: {asBuilt: Buffer.compare(gunzipSync(kgz), gtar) === 0, filesOnly0644: Buffer.compare(ftar, gtar) === 0},
    headerOffsetsDiffering: [...new Set(differing)].sort((a, b) => a - b),
    bytes: {kitTar: gunzipSync(kgz).length, kitFilesOnlyTar: ftar.length, goTar: gtar.length, kitGz: kgz.length, kitFilesOnlyGz: fgz.length, goGz: ggz.length},
  }))
}
