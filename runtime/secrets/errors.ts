// Errors of the secret store. None of them ever carries a secret value.

export class SecretError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message)
    this.name = 'SecretError'
  }
}

export const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$/

export function checkServiceName(service: string): void {
  if (!SERVICE_NAME.test(service)) {
    throw new SecretError(`bad secret name ${JSON.stringify(service.slice(0, 80))}: lower-case letters, digits and "-", 1-64 characters`, 'E_SECRET_NAME')
  }
}

/** A value must fit in an HTTP header: no control characters, at most 16 KiB. */
export function checkSecretValue(value: string): void {
  if (value.length === 0) throw new SecretError('empty secret value', 'E_SECRET_VALUE')
  if (value.length > 16384) throw new SecretError('secret value is longer than 16384 characters', 'E_SECRET_VALUE')
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    throw new SecretError('secret value holds a control character (CR, LF, NUL, ...): it could not be sent in a header', 'E_SECRET_VALUE')
  }
}
