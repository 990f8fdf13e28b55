// Kit layers for the guest: per kit one directory holding `home/agent/...` and `workspace/...`,
// in stack order (the guest copies them in that order, so a later kit's file wins). Files are
// copied from the kit's layer entries with kit-arg references substituted in their text (the
// files/ scan guarantees text), executable bits kept.
import {chmod, mkdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {substituteArgs} from '../../kit-compiler/args.js'
import type {LoadedKit} from '../../kit-compiler/load.js'

export interface KitLayer {
  kit: string
  dir: string
  files: number
}

/** Writes the layer directory of one kit at `dir` (replacing what was there). */
export async function writeKitLayer(kit: Pick<LoadedKit, 'files' | 'argValues'>, dir: string): Promise<number> {
  const tmp = `${dir}.tmp-${process.pid}`
  await rm(tmp, {recursive: true, force: true})
  await mkdir(tmp, {recursive: true, mode: 0o755})
  const values = kit.argValues ?? {}
  const substitute = Object.keys(values).length > 0
  let files = 0
  try {
    for (const entry of kit.files) {
      const out = join(tmp, entry.path)
      if (entry.type === 'directory') {
        await mkdir(out, {recursive: true, mode: 0o755})
        continue
      }
      if (!entry.source) continue
      await mkdir(join(out, '..'), {recursive: true, mode: 0o755})
      let data: Buffer | string = await readFile(entry.source)
      if (substitute && data.includes('${{')) data = substituteArgs(data.toString('utf8'), values)
      await writeFile(out, data, {mode: entry.mode})
      await chmod(out, entry.mode)
      files++
    }
    await rm(dir, {recursive: true, force: true})
    await rename(tmp, dir)
  } catch (e) {
    await rm(tmp, {recursive: true, force: true})
    throw e
  }
  return files
}

/** The layers of a composition, under `root/<index>-<kit name>`, in kit order. */
export async function writeKitLayers(kits: ReadonlyArray<Pick<LoadedKit, 'files' | 'argValues' | 'spec'>>, root: string): Promise<KitLayer[]> {
  await mkdir(root, {recursive: true})
  const out: KitLayer[] = []
  for (const [i, kit] of kits.entries()) {
    const dir = join(root, `${i}-${kit.spec.name}`)
    const files = await writeKitLayer(kit, dir)
    out.push({kit: kit.spec.name, dir, files})
  }
  return out
}
