// The seccomp profile of the sandbox container. The workspace is a bind mount of a host directory,
// and the container shares the host's uids (its root is host root), so a mode a container process
// sets there is the host file's mode. The profile is the stock container allowlist (the
// containers-common profile that Debian ships, /usr/share/containers/seccomp.json, the same
// allowlist shape as Docker's default; KIT_DOCKER_SECCOMP_BASE names another) with the calls that
// give a file a mode allowed only when the mode has no setuid/setgid bit (and, for mknod, is no
// character or block device), a create mode counting only with O_CREAT or O_TMPFILE. openat2,
// fchmodat2 and io_uring (whose arguments seccomp cannot check) are left out: they answer the
// profile's default error (ENOSYS), and libc falls back to the checked calls. This holds inside
// the container as well as in the workspace: an install step cannot install a setuid program
// (packages such as sudo fail to unpack). Device nodes are also refused by the dropped MKNOD
// capability, file capabilities by the dropped SETFCAP one (runtime/docker/driver.ts).
import {readFile} from 'node:fs/promises'
import {DockerError} from './errors.js'

export const DEFAULT_BASE_PROFILE = '/usr/share/containers/seccomp.json'

const SUID_SGID = 0o6000
const S_IFCHR_BIT = 0o20000
const O_CREAT = 0o100
const O_TMPFILE_BIT = 0o20000000

interface Arg {index: number; value: number; valueTwo: number; op: string}
interface Rule {names: string[]; action: string; args?: Arg[] | null; [k: string]: unknown}
interface Profile {syscalls: Rule[]; [k: string]: unknown}

const masked = (index: number, bits: number): Arg => ({index, value: bits, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ'})

/** Allowed only under these conditions (each list entry one rule; rules of a call are OR-ed). */
const CHECKED: Record<string, Arg[][]> = {
  chmod: [[masked(1, SUID_SGID)]],
  fchmod: [[masked(1, SUID_SGID)]],
  fchmodat: [[masked(2, SUID_SGID)]],
  creat: [[masked(1, SUID_SGID)]],
  mknod: [[masked(1, SUID_SGID | S_IFCHR_BIT)]],
  mknodat: [[masked(2, SUID_SGID | S_IFCHR_BIT)]],
  open: [[masked(1, O_CREAT | O_TMPFILE_BIT)], [masked(2, SUID_SGID)]],
  openat: [[masked(2, O_CREAT | O_TMPFILE_BIT)], [masked(3, SUID_SGID)]],
}
const LEFT_OUT = new Set(['openat2', 'fchmodat2', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'])

/** The profile built from `base` (a Docker/containers seccomp JSON). */
export function confineProfile(base: Profile): Profile {
  const syscalls: Rule[] = []
  for (const rule of base.syscalls) {
    const names = rule.names.filter((n) => !LEFT_OUT.has(n) && !(rule.action === 'SCMP_ACT_ALLOW' && Object.hasOwn(CHECKED, n)))
    if (names.length) syscalls.push({...rule, names})
  }
  for (const [name, rules] of Object.entries(CHECKED)) {
    for (const args of rules) syscalls.push({names: [name], action: 'SCMP_ACT_ALLOW', args})
  }
  return {...base, syscalls}
}

/** The profile as the engine takes it (`SecurityOpt: ["seccomp=" + this]`). */
export async function sandboxSeccompProfile(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const path = env.KIT_DOCKER_SECCOMP_BASE || DEFAULT_BASE_PROFILE
  let base: Profile
  try {
    base = JSON.parse(await readFile(path, 'utf8')) as Profile
    if (!Array.isArray(base.syscalls)) throw new Error('no "syscalls" list')
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found (apt-get install golang-github-containers-common)' : (e as Error).message
    throw new DockerError('DOCKER_ENGINE', `the base seccomp profile ${path}: ${why}; the sandbox container does not start without it`)
  }
  return JSON.stringify(confineProfile(base))
}
