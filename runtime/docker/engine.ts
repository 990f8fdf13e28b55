// The Docker engine the driver talks to: DOCKER_HOST (unix:// only) or /var/run/docker.sock,
// through dockerode. Labels put on everything the driver creates, so that what a killed `kit run`
// left behind can be found again (runtime/docker/cleanup.ts).
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import type Docker from 'dockerode'
import {kitHome} from '../home.js'
import {DockerError} from './errors.js'

export const LABEL_SANDBOX = 'dev.kit.sandbox'
/** A hash of KIT_HOME: two homes may hold sandboxes of the same name. */
export const LABEL_HOME = 'dev.kit.home'
/** The `kit run` process that owns the container, network and firewall rules. */
export const LABEL_PID = 'dev.kit.pid'
export const LABEL_ROOTFS = 'dev.kit.rootfs'

/** The engine's unix socket, or a sentence saying why there is none. */
export function engineSocket(env: NodeJS.ProcessEnv = process.env): {path?: string; reason?: string} {
  const host = env.DOCKER_HOST
  if (host) {
    if (!host.startsWith('unix://')) return {reason: `DOCKER_HOST=${host}: only a local engine (unix://) can run sandboxes`}
    const path = host.slice('unix://'.length)
    return existsSync(path) ? {path} : {reason: `DOCKER_HOST=${host}: no socket there (is dockerd running?)`}
  }
  return existsSync('/var/run/docker.sock') ? {path: '/var/run/docker.sock'} : {reason: 'no Docker engine: /var/run/docker.sock does not exist (start dockerd, or set DOCKER_HOST=unix://PATH)'}
}

/** A client of the engine, after a ping. */
export async function connectEngine(env: NodeJS.ProcessEnv = process.env): Promise<Docker> {
  const sock = engineSocket(env)
  if (!sock.path) throw new DockerError('DOCKER_ENGINE', sock.reason!)
  const {default: DockerClass} = await import('dockerode')
  const docker = new DockerClass({socketPath: sock.path})
  try {
    await docker.ping()
  } catch (e) {
    throw new DockerError('DOCKER_ENGINE', `the Docker engine at ${sock.path} does not answer: ${(e as Error).message}`)
  }
  return docker
}

export function homeLabel(env: NodeJS.ProcessEnv = process.env): string {
  return createHash('sha256').update(kitHome(env)).digest('hex').slice(0, 16)
}

/** Engine errors carry a JSON message; keep the one line a user needs. */
export function engineMessage(e: unknown): string {
  const err = e as {json?: {message?: string}; message?: string; statusCode?: number}
  return (err.json?.message ?? err.message ?? String(e)).split('\n')[0]!
}
