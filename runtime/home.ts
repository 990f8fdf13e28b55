// Where kit keeps its state. KIT_HOME moves all of it (tests always set their own);
// the default is the XDG data directory.
import {homedir} from 'node:os'
import {join} from 'node:path'

export function kitHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KIT_HOME) return env.KIT_HOME
  const data = env.XDG_DATA_HOME || join(homedir(), '.local', 'share')
  return join(data, 'kit')
}

/** The local OCI image-layout store of kits and images. */
export function storeDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(kitHome(env), 'store')
}

/** Settings (config.json): allowed sources, signature policy, ... */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(kitHome(env), 'config.json')
}

/** Per-sandbox state: resolved kits, VM config, logs. */
export function sandboxesDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(kitHome(env), 'sandboxes')
}

/** Caches that can be rebuilt (kernels, initramfs, unpacked root filesystems). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(kitHome(env), 'cache')
}
