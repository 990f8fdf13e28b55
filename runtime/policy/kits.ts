// Kit directories as policy layers: load each kit (kit-compiler's loader, full validation) and
// take its network rules and credentials. References to kits in the store (`--kit REF`) are
// resolved by the caller into directories first.
import {loadKit} from '../../kit-compiler/load.js'
import {policyFromKit, type KitPolicy, type KitPolicyShape} from './from-kit.js'

export async function loadKitPolicies(dirs: readonly string[]): Promise<KitPolicy[]> {
  const out: KitPolicy[] = []
  for (const dir of dirs) {
    const kit = await loadKit(dir)
    out.push(policyFromKit(kit.spec as KitPolicyShape))
  }
  return out
}
