// Kits as policy layers: each `--kit` is a kit directory (loaded and validated by the kit
// compiler) or, when no such directory exists, a reference in the local store (`my-mixin:1.2.3`,
// `name@sha256:…`), whose spec is read from the stored artifact. Each gives its network rules and
// credentials.
import {stat} from 'node:fs/promises'
import {normaliseSpecBytes, readKitArtifact} from '../../kit-compiler/artifact.js'
import {loadKit} from '../../kit-compiler/load.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {storeDir} from '../home.js'
import {policyFromKit, type KitPolicy, type KitPolicyShape} from './from-kit.js'

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory()
  } catch {
    return false
  }
}

export async function loadKitPolicies(kits: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<KitPolicy[]> {
  const out: KitPolicy[] = []
  let store: OciLayoutStore | undefined
  for (const kit of kits) {
    if (await isDirectory(kit)) {
      const loaded = await loadKit(kit)
      out.push(policyFromKit(loaded.spec as KitPolicyShape))
      continue
    }
    store ??= await OciLayoutStore.open(storeDir(env))
    const artifact = await readKitArtifact(store, kit)
    const {spec} = await normaliseSpecBytes(artifact.specBytes, kit)
    out.push(policyFromKit(spec as KitPolicyShape))
  }
  return out
}
