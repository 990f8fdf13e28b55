// Errors of the sandbox lifecycle: one line, a stable `code`, what the user acts on.

export type SandboxErrorCode =
  | 'KIT_NOT_FOUND'
  | 'KIT_ARGS'
  | 'WORKSPACE'
  | 'SANDBOX_NOT_FOUND'
  | 'SANDBOX_EXISTS'
  | 'SANDBOX_RUNNING'
  | 'SANDBOX_STATE'
  | 'DRIVER'
  | 'EXEC'
  | 'USAGE'

export class SandboxError extends Error {
  readonly code: SandboxErrorCode
  exitCode?: number
  constructor(code: SandboxErrorCode, message: string, options?: {cause?: unknown}) {
    super(message, options?.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'SandboxError'
    this.code = code
  }
}
