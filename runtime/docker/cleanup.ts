// What a sandbox's runs left in the engine and the host firewall: containers and networks carry
// the sandbox's labels (name, KIT_HOME hash, owner pid), firewall rules a comment with the same.
// A `kit run` cleans up after itself on every path it survives; what a killed one left (SIGKILL,
// a crash) is removed by the next run of the sandbox, `kit stop` and `kit rm`. Resources of a
// live owner (another `kit run`/`kit exec` of the sandbox) are never touched.
import {connectEngine, engineSocket, homeLabel, LABEL_HOME, LABEL_PID, LABEL_SANDBOX} from './engine.js'
import {deleteRules, findRules, RULE_PREFIX} from './firewall.js'

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export interface CleanupResult {
  containers: number
  networks: number
  rules: number
}

/**
 * Removes the containers, networks and firewall rules of sandbox `name` (of this KIT_HOME) whose
 * owner process is gone (`all`: whatever their owner). Without an engine, only the rules.
 */
export async function cleanupDockerSandbox(name: string, opts: {env?: NodeJS.ProcessEnv; all?: boolean; exceptPid?: number} = {}): Promise<CleanupResult> {
  const env = opts.env ?? process.env
  const home = homeLabel(env)
  const stale = (pid: string | undefined) => Number(pid) !== opts.exceptPid && (opts.all || !alive(Number(pid)))
  const result: CleanupResult = {containers: 0, networks: 0, rules: 0}
  if (engineSocket(env).path) {
    try {
      const docker = await connectEngine(env)
      const filters = JSON.stringify({label: [`${LABEL_SANDBOX}=${name}`, `${LABEL_HOME}=${home}`]})
      for (const c of await docker.listContainers({all: true, filters})) {
        if (!stale(c.Labels[LABEL_PID])) continue
        await docker.getContainer(c.Id).remove({force: true, v: true}).then(() => result.containers++, () => {})
      }
      for (const n of await docker.listNetworks({filters})) {
        if (!stale(n.Labels?.[LABEL_PID])) continue
        await docker.getNetwork(n.Id).remove().then(() => result.networks++, () => {})
      }
    } catch {
      // no engine answering: nothing of it to clean
    }
  }
  const rules = (await findRules(`${RULE_PREFIX}:${home}:${name}:`)).filter((r) => stale(r.comment.split(':').pop()))
  const left = await deleteRules(rules)
  result.rules = rules.length - left.length
  return result
}
