// Errors of the docker driver: one line, a stable `code`, what the user needs to act on.

export type DockerErrorCode =
  | 'DOCKER_ENGINE' // no engine, or it refused a request
  | 'DOCKER_IMAGE' // the root filesystem could not be imported
  | 'DOCKER_NETWORK' // the sandbox network, its firewall rules or the proxy forwarder
  | 'DOCKER_GUEST' // the container ended without the command's exit code

export class DockerError extends Error {
  readonly code: DockerErrorCode

  constructor(code: DockerErrorCode, message: string, options?: {cause?: unknown}) {
    super(message, options?.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'DockerError'
    this.code = code
  }
}
