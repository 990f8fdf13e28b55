// A Docker engine for the docker driver's tests: the one that answers on DOCKER_HOST or
// /var/run/docker.sock, else (as root, when `dockerd` is installed) a private dockerd of this
// test process: data-root, exec-root, pidfile and socket under a per-machine cache dir in the OS
// temp dir (so imported images survive between runs), its log in a file there, stopped when the
// test process exits. Without either, the tests skip with the reason printed.
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, openSync, readFileSync, closeSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {connectEngine, engineSocket, LABEL_SANDBOX} from '../../runtime/docker/engine.js'
import {findRules, RULE_PREFIX} from '../../runtime/docker/firewall.js'

export const DOCKERD_CACHE = join(tmpdir(), 'kit-test-dockerd')

export interface TestEngine {
  /** Environment pointing the driver at the engine (DOCKER_HOST). */
  env: NodeJS.ProcessEnv
  /** Why the tests cannot run (then skip). */
  skip?: string
  /** Where the private dockerd logs, when this process started one. */
  log?: string
}

let engine: Promise<TestEngine> | undefined

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function answers(env: NodeJS.ProcessEnv): Promise<boolean> {
  if (!engineSocket(env).path) return false
  try {
    await connectEngine(env)
    return true
  } catch {
    return false
  }
}

async function start(): Promise<TestEngine> {
  const base: NodeJS.ProcessEnv = {...process.env}
  if (await answers(base)) return {env: {DOCKER_HOST: base.DOCKER_HOST ?? 'unix:///var/run/docker.sock'}}
  if (process.getuid?.() !== 0) return {env: {}, skip: 'no Docker engine answers, and starting one needs root'}
  if (spawnSync('sh', ['-c', 'command -v dockerd']).status !== 0) return {env: {}, skip: 'no Docker engine answers and dockerd is not installed (scripts/install-deps.sh installs docker.io)'}
  const dir = DOCKERD_CACHE
  mkdirSync(dir, {recursive: true, mode: 0o700})
  const sock = join(dir, 'docker.sock')
  const pidfile = join(dir, 'dockerd.pid')
  const log = join(dir, 'dockerd.log')
  const env: NodeJS.ProcessEnv = {DOCKER_HOST: `unix://${sock}`}
  // A dockerd another test process of this machine started (and still runs): share it.
  const other = existsSync(pidfile) ? Number(readFileSync(pidfile, 'utf8').trim()) : 0
  if (other && alive(other) && (await answers(env))) return {env, log}
  const fd = openSync(log, 'a')
  const child = spawn('dockerd', [
    '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', pidfile,
    '-H', `unix://${sock}`, '--bridge', 'none', '--log-level', 'warn',
  ], {stdio: ['ignore', fd, fd], detached: true})
  closeSync(fd)
  child.unref()
  let exited = false
  child.on('exit', () => (exited = true))
  process.on('exit', () => {
    try {
      if (child.pid && !exited) process.kill(child.pid, 'SIGTERM')
    } catch {
      // gone
    }
  })
  for (let i = 0; i < 600 && !exited; i++) {
    if (await answers(env)) return {env, log}
    await new Promise((r) => setTimeout(r, 100))
  }
  const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-5).join('\n') : ''
  return {env: {}, skip: `dockerd did not answer on ${sock} (log ${log}): ${tail}`}
}

/** The engine for this test process (started once). */
export function testEngine(): Promise<TestEngine> {
  engine ??= start()
  return engine
}

export interface Leftovers {
  containers: number
  networks: number
  rules: number
}

/** What the engine and the firewall still hold of a sandbox: containers, networks, rules. */
export async function leftovers(env: NodeJS.ProcessEnv, sandbox: string): Promise<Leftovers> {
  const docker = await connectEngine(env)
  const filters = JSON.stringify({label: [`${LABEL_SANDBOX}=${sandbox}`]})
  return {
    containers: (await docker.listContainers({all: true, filters})).length,
    networks: (await docker.listNetworks({filters})).length,
    rules: (await findRules(`${RULE_PREFIX}:`)).filter((r) => r.comment.split(':')[2] === sandbox).length,
  }
}
