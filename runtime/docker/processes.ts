// The host PIDs of a docker sandbox's processes (for `kit stats`): they belong to the engine's
// containerd-shim, not to the `kit run` process, so they are asked of the engine by label.
import {connectEngine, homeLabel, LABEL_HOME, LABEL_SANDBOX} from './engine.js'

export async function containerPids(name: string, env: NodeJS.ProcessEnv = process.env): Promise<number[]> {
  const docker = await connectEngine(env)
  const containers = await docker.listContainers({filters: {label: [`${LABEL_SANDBOX}=${name}`, `${LABEL_HOME}=${homeLabel(env)}`], status: ['running']}})
  const pids: number[] = []
  for (const c of containers) {
    const top = (await docker.getContainer(c.Id).top({ps_args: '-o pid'})) as {Titles: string[]; Processes: string[][]}
    const col = top.Titles.findIndex((t) => t.trim() === 'PID')
    for (const row of top.Processes) {
      const pid = Number(row[col < 0 ? 0 : col])
      if (Number.isInteger(pid) && pid > 0) pids.push(pid)
    }
  }
  return pids
}
