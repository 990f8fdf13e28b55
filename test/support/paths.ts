// Paths tests share: the repository root (tests run from dist/test/...), the sample kits, and the
// corpus of real kits in ../shared/corpus beside the clone.
import {existsSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

function findRoot(start: string): string {
  let dir = start
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error(`no package.json above ${start}`)
    dir = up
  }
  return dir
}

export const repoRoot = findRoot(dirname(fileURLToPath(import.meta.url)))
export const sampleKitsDir = join(repoRoot, 'sample-kits')
// A worktree sits one level deeper (wt/NAME) than a clone: look one folder further up as well.
export const corpusDir = [resolve(repoRoot, '..', 'shared', 'corpus'), resolve(repoRoot, '..', '..', 'shared', 'corpus')].find((d) => existsSync(d)) ?? resolve(repoRoot, '..', 'shared', 'corpus')
export const kitBin = join(repoRoot, 'bin', 'kit')
