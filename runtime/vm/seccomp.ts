// The seccomp filter QEMU runs under (loaded by bubblewrap, `bwrap --seccomp FD`). QEMU's 9p server
// (security_model=none) applies the modes, device numbers and extended attributes the guest asks
// for to host files, so guest root could otherwise plant a setuid binary, a file capability or a
// device node on the host. The filter makes those system calls fail for QEMU and everything it
// starts: a chmod/fchmod/fchmodat/fchmodat2 whose mode has the setuid or setgid bit, an
// open/openat/creat/mkdir/mkdirat that would create with such a mode, a mknod/mknodat of a
// character or block device (or with those bits), any setxattr (security.capability is one);
// openat2 and io_uring_setup (whose arguments a filter cannot read) answer ENOSYS so callers
// fall back to the calls above. Another architecture or ABI (x32, i386) kills the process.
// The program is classic BPF (struct sock_filter, 8 bytes each, little-endian hosts only).

const LD_W_ABS = 0x20
const JEQ_K = 0x15
const JGE_K = 0x35
const JSET_K = 0x45
const RET_K = 0x06

const RET_ALLOW = 0x7fff0000
const RET_KILL_PROCESS = 0x80000000
const RET_ERRNO = (errno: number) => 0x00050000 | errno
const EPERM = 1
const ENOSYS = 38
const EOPNOTSUPP = 95

/** Setuid and setgid. */
export const SUID_SGID = 0o6000
/** The bit S_IFCHR and S_IFBLK share (S_IFIFO, S_IFREG, S_IFSOCK lack it). */
const S_IFCHR_BIT = 0o20000
const O_CREAT = 0o100
const O_TMPFILE_BIT = 0o20000000

interface Arch {
  audit: number
  /** Numbers at or above this belong to another ABI (x32). */
  abiLimit?: number
  nr: Partial<Record<Syscall, number>>
}

type Syscall = 'open' | 'openat' | 'creat' | 'mkdir' | 'mkdirat' | 'mknod' | 'mknodat' | 'chmod' | 'fchmod' | 'fchmodat' | 'fchmodat2'
  | 'setxattr' | 'lsetxattr' | 'fsetxattr' | 'openat2' | 'io_uring_setup'

const ARCHES: Record<string, Arch> = {
  x64: {
    audit: 0xc000003e,
    abiLimit: 0x40000000,
    nr: {open: 2, creat: 85, mkdir: 83, chmod: 90, fchmod: 91, mknod: 133, openat: 257, mkdirat: 258, mknodat: 259, fchmodat: 268,
      setxattr: 188, lsetxattr: 189, fsetxattr: 190, io_uring_setup: 425, openat2: 437, fchmodat2: 452},
  },
  arm64: {
    audit: 0xc00000b7,
    nr: {openat: 56, mkdirat: 34, mknodat: 33, fchmodat: 53, fchmod: 52, setxattr: 5, lsetxattr: 6, fsetxattr: 7,
      io_uring_setup: 425, openat2: 437, fchmodat2: 452},
  },
}

/** What each call may not do: the argument holding the mode and the bits refused in it. */
const MODE_RULES: Array<{call: Syscall; mode: number; bits: number; flags?: number}> = [
  {call: 'chmod', mode: 1, bits: SUID_SGID},
  {call: 'fchmod', mode: 1, bits: SUID_SGID},
  {call: 'fchmodat', mode: 2, bits: SUID_SGID},
  {call: 'fchmodat2', mode: 2, bits: SUID_SGID},
  {call: 'creat', mode: 1, bits: SUID_SGID},
  {call: 'mkdir', mode: 1, bits: SUID_SGID},
  {call: 'mkdirat', mode: 2, bits: SUID_SGID},
  {call: 'mknod', mode: 1, bits: SUID_SGID | S_IFCHR_BIT},
  {call: 'mknodat', mode: 2, bits: SUID_SGID | S_IFCHR_BIT},
  // The mode of open counts only when it creates (O_CREAT, O_TMPFILE).
  {call: 'open', flags: 1, mode: 2, bits: SUID_SGID},
  {call: 'openat', flags: 2, mode: 3, bits: SUID_SGID},
]

const FAIL_RULES: Array<{call: Syscall; errno: number}> = [
  {call: 'setxattr', errno: EOPNOTSUPP},
  {call: 'lsetxattr', errno: EOPNOTSUPP},
  {call: 'fsetxattr', errno: EOPNOTSUPP},
  {call: 'openat2', errno: ENOSYS},
  {call: 'io_uring_setup', errno: ENOSYS},
]

type Insn = [code: number, jt: number, jf: number, k: number]

/** Low 32 bits of argument i (mode_t and int flags are 32-bit). */
const argLow = (i: number) => 16 + 8 * i

/** The filter for this host's architecture (`process.arch`), or undefined where kit has no table. */
export function hostFilter(arch: string = process.arch): Buffer | undefined {
  const a = ARCHES[arch]
  if (!a) return undefined
  const p: Insn[] = [
    [LD_W_ABS, 0, 0, 4], // arch
    [JEQ_K, 1, 0, a.audit],
    [RET_K, 0, 0, RET_KILL_PROCESS],
    [LD_W_ABS, 0, 0, 0], // nr
  ]
  if (a.abiLimit) p.push([JGE_K, 0, 1, a.abiLimit], [RET_K, 0, 0, RET_KILL_PROCESS])
  for (const r of MODE_RULES) {
    const nr = a.nr[r.call]
    if (nr === undefined) continue
    if (r.flags === undefined) {
      p.push(
        [JEQ_K, 0, 4, nr],
        [LD_W_ABS, 0, 0, argLow(r.mode)],
        [JSET_K, 0, 1, r.bits],
        [RET_K, 0, 0, RET_ERRNO(EPERM)],
        [RET_K, 0, 0, RET_ALLOW],
      )
    } else {
      p.push(
        [JEQ_K, 0, 6, nr],
        [LD_W_ABS, 0, 0, argLow(r.flags)],
        [JSET_K, 0, 3, O_CREAT | O_TMPFILE_BIT],
        [LD_W_ABS, 0, 0, argLow(r.mode)],
        [JSET_K, 0, 1, r.bits],
        [RET_K, 0, 0, RET_ERRNO(EPERM)],
        [RET_K, 0, 0, RET_ALLOW],
      )
    }
  }
  for (const r of FAIL_RULES) {
    const nr = a.nr[r.call]
    if (nr === undefined) continue
    p.push([JEQ_K, 0, 1, nr], [RET_K, 0, 0, RET_ERRNO(r.errno)])
  }
  p.push([RET_K, 0, 0, RET_ALLOW])
  const out = Buffer.alloc(p.length * 8)
  p.forEach(([code, jt, jf, k], i) => {
    out.writeUInt16LE(code, i * 8)
    out.writeUInt8(jt, i * 8 + 2)
    out.writeUInt8(jf, i * 8 + 3)
    out.writeUInt32LE(k >>> 0, i * 8 + 4)
  })
  return out
}
