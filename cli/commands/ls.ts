import {listStore, type StoredItem} from '../../kit-compiler/artifact.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {storeDir} from '../../runtime/home.js'
import {listSandboxesChecked, type ListedSandbox, type StateWarning} from '../../runtime/sandbox/state.js'
import {KitCommand} from '../base.js'
import {formatBytes} from '../units.js'

export default class Ls extends KitCommand {
  static override description = 'List what the local store holds (kits and images, by reference) and the sandboxes (name, agent, kits with digests, state, driver, uptime).'
  static override aliases = ['list']

  async run(): Promise<{store: StoredItem[]; sandboxes: ListedSandbox[]; warnings?: StateWarning[]}> {
    // A bad file (index.json, a sandbox.json or state.json) is a warning naming it; the rest lists.
    const warnings: StateWarning[] = []
    let items: StoredItem[] = []
    try {
      items = await listStore(await OciLayoutStore.open(storeDir()))
    } catch (err) {
      if (typeof (err as {code?: unknown}).code !== 'string') throw err
      warnings.push({path: storeDir(), message: (err as Error).message})
    }
    const listed = await listSandboxesChecked()
    warnings.push(...listed.warnings)
    const sandboxes = listed.sandboxes
    for (const w of warnings) process.stderr.write(`kit: warning: ${w.message.startsWith(w.path) ? w.message : `${w.path}: ${w.message}`}\n`)
    if (!this.jsonEnabled()) {
      const rows = [['REFERENCE', 'KIND', 'DIGEST', 'SIZE'], ...items.map((i) => [i.reference, i.kind, i.digest.slice(7, 19), humanSize(i.size)])]
      this.table(rows)
      if (sandboxes.length > 0) {
        this.log('')
        this.table([
          ['SANDBOX', 'AGENT', 'KITS', 'STATE', 'DRIVER', 'UPTIME'],
          ...sandboxes.map((s) => [
            s.name,
            s.agent,
            s.kits.map((k) => (k.digest ? `${k.name}@${k.digest.slice(7, 19)}` : k.name)).join(','),
            s.state === 'dead' ? 'dead (its kit run process is gone)' : s.state,
            s.driver === 'docker' ? 'docker (shares the host kernel)' : s.driver,
            s.uptimeSec !== undefined ? `${s.uptimeSec}s` : '-',
          ]),
        ])
      }
    }
    return warnings.length > 0 ? {store: items, sandboxes, warnings} : {store: items, sandboxes}
  }

  private table(rows: string[][]): void {
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
    for (const r of rows) this.log(r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '))
  }
}

/** Sizes as every kit command prints them (decimal units: cli/units.ts). */
export function humanSize(n: number): string {
  return formatBytes(n)
}
