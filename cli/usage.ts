// Usage errors (unknown command, unknown flag, missing argument, bad value): one line on stderr
// and exit 2, like other command-line tools; under --json, a JSON error object on stdout instead
// ({"error":{"code":"USAGE",...}}), the same shape as every other kit error.
export function usageError(message: string, code: string, argv: readonly string[]): void {
  if (jsonRequested(argv)) process.stdout.write(JSON.stringify({error: {code, message}}) + '\n')
  else process.stderr.write(`kit: ${message}\n`)
}

/** --json among the flags (not after `--`, where a command's own arguments start). */
export function jsonRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf('--')
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json')
}
