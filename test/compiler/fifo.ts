// mkfifo for tests (node has no mkfifo): the coreutils command.
import {spawnSync} from 'node:child_process'

export function mkfifoSync(path: string): boolean {
  return spawnSync('mkfifo', [path]).status === 0
}
