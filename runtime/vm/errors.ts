// Errors of the VM layer: one line, a stable `code`, what the user needs to act on.

export type VmErrorCode =
  | 'KERNEL_CONFIG'
  | 'KERNEL_FETCH'
  | 'KERNEL_MODULES'
  | 'INITRAMFS'
  | 'ROOTFS'
  | 'QEMU_MISSING'
  | 'VM_SPEC'
  | 'VM_BOOT'
  | 'VM_TIMEOUT'
  | 'VM_CRASH'
  | 'VM_GUEST'
  | 'VM_STATE'

export class VmError extends Error {
  readonly code: VmErrorCode
  /** Where to look for more (the console log of a failed boot). */
  readonly logFile?: string

  constructor(code: VmErrorCode, message: string, options?: {logFile?: string; cause?: unknown}) {
    super(message, options?.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'VmError'
    this.code = code
    this.logFile = options?.logFile
  }
}
