// A writer for the cpio "newc" format (what the Linux kernel unpacks as an initramfs).
// Entries are written in the order given; the archive is deterministic (mtime 0, inode numbers by
// position), so the same inputs always give the same bytes and the same cache key.

export type CpioEntry =
  | {type: 'dir'; path: string; mode?: number}
  | {type: 'file'; path: string; data: Uint8Array | string; mode?: number}
  | {type: 'symlink'; path: string; target: string}
  | {type: 'chardev'; path: string; major: number; minor: number; mode?: number}

const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
const S_IFCHR = 0o020000

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0')
}

function pad4(len: number): Buffer {
  const rest = len % 4
  return Buffer.alloc(rest === 0 ? 0 : 4 - rest)
}

function header(ino: number, mode: number, fileSize: number, nameSize: number, rdevMajor = 0, rdevMinor = 0): Buffer {
  const fields = [
    ino, mode, 0 /* uid */, 0 /* gid */, 1 /* nlink */, 0 /* mtime */, fileSize,
    0 /* devmajor */, 0 /* devminor */, rdevMajor, rdevMinor, nameSize, 0 /* check */,
  ]
  return Buffer.from('070701' + fields.map(hex8).join(''), 'ascii')
}

/** Encodes entries as one newc archive, ending with the TRAILER!!! record. */
export function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = []
  let offset = 0
  const push = (b: Buffer) => {
    parts.push(b)
    offset += b.length
  }
  const record = (ino: number, mode: number, name: string, data: Buffer, major = 0, minor = 0) => {
    const nameBytes = Buffer.from(name + '\0', 'utf8')
    push(header(ino, mode, data.length, nameBytes.length, major, minor))
    push(nameBytes)
    push(pad4(offset))
    push(data)
    push(pad4(offset))
  }
  let ino = 1
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '')
    if (!name || name.split('/').some(s => s === '..')) throw new Error(`cpio: bad entry path ${JSON.stringify(e.path)}`)
    switch (e.type) {
      case 'dir':
        record(ino++, S_IFDIR | (e.mode ?? 0o755), name, Buffer.alloc(0))
        break
      case 'file':
        record(ino++, S_IFREG | (e.mode ?? 0o644), name, typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : Buffer.from(e.data))
        break
      case 'symlink':
        record(ino++, S_IFLNK | 0o777, name, Buffer.from(e.target, 'utf8'))
        break
      case 'chardev':
        record(ino++, S_IFCHR | (e.mode ?? 0o600), name, Buffer.alloc(0), e.major, e.minor)
        break
    }
  }
  record(0, 0, 'TRAILER!!!', Buffer.alloc(0))
  return Buffer.concat(parts)
}
