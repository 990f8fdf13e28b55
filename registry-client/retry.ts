// The retry policy: which failures are worth another try (408, 429, 5xx but 501/505, connection
// resets and timeouts), how long to wait (exponential backoff with jitter, or the server's
// Retry-After), and how many times.

export interface RetryPolicy {
  /** Further attempts after the first (default 4). */
  retries: number
  /** First backoff; doubles each attempt, with full jitter (default 250 ms). */
  baseDelayMs: number
  /** Cap on one backoff (default 8 s). */
  maxDelayMs: number
  /** Cap on a server's Retry-After (default 60 s); a longer ask fails at once. */
  maxRetryAfterMs: number
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {retries: 4, baseDelayMs: 250, maxDelayMs: 8000, maxRetryAfterMs: 60_000}

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505)
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
])

/** True for a connection-level failure another attempt may get past. */
export function isRetryableNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as NodeJS.ErrnoException).code
  if (code !== undefined && RETRYABLE_CODES.has(code)) return true
  return /socket hang up|aborted|premature close/i.test(err.message)
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date), or undefined. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const date = Date.parse(v)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, date - now)
}

export function backoffMs(attempt: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt)
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * An error that another attempt could fix but that the layer raising it could not retry itself
 * (its request body was a stream already consumed). copy() retries the whole transfer.
 */
export function markRetryable<E extends Error>(err: E): E {
  ;(err as E & {retryable?: boolean}).retryable = true
  return err
}

export function isMarkedRetryable(err: unknown): boolean {
  return err instanceof Error && (err as {retryable?: boolean}).retryable === true
}
