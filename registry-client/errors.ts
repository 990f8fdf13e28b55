// Typed errors of registry-client. Every one carries a string `code` (the CLI prints one line and
// exits 1) and what a user needs to act: the reference, the digest, the HTTP status.

export class RegistryClientError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** Content or a reference is not in the target. */
export class NotFoundError extends RegistryClientError {
  constructor(message: string, readonly reference?: string) {
    super('NOT_FOUND', message)
  }
}

/** Bytes read or written do not hash to the expected digest. */
export class DigestMismatchError extends RegistryClientError {
  constructor(readonly expected: string, readonly actual: string, where?: string) {
    super('DIGEST_MISMATCH', `digest mismatch${where ? ` for ${where}` : ''}: expected ${expected}, got ${actual}`)
  }
}

/** Bytes read or written are not the expected size (truncated or too long). */
export class SizeMismatchError extends RegistryClientError {
  constructor(readonly expected: number, readonly actual: number, readonly digest?: string) {
    super(
      'SIZE_MISMATCH',
      `size mismatch${digest ? ` for ${digest}` : ''}: expected ${expected} bytes, got ${actual}${actual < expected ? ' (truncated)' : ''}`,
    )
  }
}

/** A reference string that does not parse. */
export class InvalidReferenceError extends RegistryClientError {
  constructor(readonly reference: string, reason: string) {
    super('INVALID_REFERENCE', `invalid reference ${JSON.stringify(reference)}: ${reason}`)
  }
}

/** A manifest or index that is not valid JSON or lacks required fields. */
export class InvalidManifestError extends RegistryClientError {
  constructor(message: string) {
    super('INVALID_MANIFEST', message)
  }
}

/** A registry answered with an HTTP error once retries were spent (or on a non-retryable status). */
export class HttpStatusError extends RegistryClientError {
  constructor(
    readonly status: number,
    readonly reference: string,
    readonly operation: string,
    detail?: string,
  ) {
    super(
      status === 401 || status === 403 ? 'UNAUTHORIZED' : status === 404 ? 'NOT_FOUND' : 'HTTP_STATUS',
      `${operation} ${reference}: HTTP ${status}${detail ? ` (${detail})` : ''}`,
    )
  }
}

/** The network failed (reset, refused, timeout) after retries. */
export class NetworkError extends RegistryClientError {
  constructor(readonly reference: string, readonly operation: string, cause: unknown) {
    super('NETWORK', `${operation} ${reference}: ${describeCause(cause)}`, {cause})
  }
}

/**
 * A tag would point at content the store no longer (or never) holds: a blob its manifest
 * references is missing (another process's gc removed it meanwhile). The writer pushes it again.
 */
export class MissingContentError extends RegistryClientError {
  constructor(readonly reference: string, readonly missing: string[], where: string) {
    super('MISSING_CONTENT', `${reference}: ${missing.length} blob${missing.length === 1 ? '' : 's'} it references ${missing.length === 1 ? 'is' : 'are'} not in ${where} (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''})`)
  }
}

/** A tag already points at a different digest and --force was not given. */
export class TagExistsError extends RegistryClientError {
  constructor(readonly reference: string, readonly existing: string, readonly wanted: string) {
    super(
      'TAG_EXISTS',
      `${reference} already points at ${existing}; refusing to re-point it to ${wanted} (use --force)`,
    )
  }
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as {code?: unknown}).code
    const inner = (cause as {cause?: unknown}).cause
    const innerMessage = inner instanceof Error ? `: ${inner.message}` : ''
    return `${typeof code === 'string' ? code + ' ' : ''}${cause.message}${innerMessage}`.trim()
  }
  return String(cause)
}
