// Errors of agent images: one line, a stable `code`, the reference the user typed.

export type ImageErrorCode = 'IMAGE_NOT_FOUND' | 'IMAGE_INVALID' | 'IMAGE_LAYER' | 'IMAGE_IMPORT' | 'IMAGE_PULL' | 'IMAGE_DOCKER'

export class ImageError extends Error {
  readonly code: ImageErrorCode
  constructor(code: ImageErrorCode, message: string, options?: {cause?: unknown}) {
    super(message, options?.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'ImageError'
    this.code = code
  }
}
