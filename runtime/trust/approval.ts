// Approval of widened permissions in the lockfile. Each locked kit records its permission surface;
// `kit lock --update` computes the surface of the version it would move to and, when that is wider
// than the recorded one (a new allow, a removed deny, a new credential or inject domain, a new
// install command...), stops with the list instead of writing. `--approve` records the new surface
// with what was approved. A narrower or equal surface passes.
import {createInterface} from 'node:readline/promises'
import {NotAKitError} from '../../kit-compiler/artifact.js'
import {artifactSurface} from '../../kit-compiler/trust/artifact-surface.js'
import {parseSurface, type PermissionSurface, surfaceWidening, type Widening} from '../../kit-compiler/trust/surface.js'
import type {LockEntry, LockResult} from '../../registry-client/lockfile.js'
import {lockFromRegistry, type ResolveOptions} from '../../registry-client/pull.js'
import {parseReference} from '../../registry-client/reference.js'
import {RemoteRepository} from '../../registry-client/remote.js'

export class ApprovalRequiredError extends Error {
  readonly code = 'APPROVAL_REQUIRED'
  constructor(
    readonly reference: string,
    readonly from: string,
    readonly to: string,
    readonly widening: Widening[],
  ) {
    super(`${reference}: ${from.split('@')[1]?.slice(0, 19)} → ${to.split('@')[1]?.slice(0, 19)} widens its permissions: ${widening.map((w) => w.message).join('; ')} (review, then run kit lock --update --approve)`)
    this.name = 'ApprovalRequiredError'
  }
}

export interface Approval {
  /** The resolved reference approved from. */
  from: string
  widened: string[]
}

export interface SurfaceEntryOptions {
  approve: boolean
  /** Asked when a widening is found and `approve` is false (an interactive yes); default: refuse. */
  confirm?: (pending: ApprovalRequiredError) => Promise<boolean>
  /** The surface of a resolved `repo@sha256:...`; default: read from its registry. */
  surfaceOf: (resolved: string) => Promise<PermissionSurface | undefined>
}

/** The lockfile `entry` hook: adds the surface, and refuses an unapproved widening. */
export function surfaceEntry(opts: SurfaceEntryOptions): (reference: string, fresh: LockEntry, previous: LockEntry | undefined) => Promise<LockEntry> {
  return async (reference, fresh, previous) => {
    if (previous && previous.resolved === fresh.resolved && previous.surface !== undefined) return {...previous, ...fresh}
    const surface = await opts.surfaceOf(fresh.resolved)
    if (surface === undefined) return fresh
    const entry: LockEntry = {...fresh, surface}
    if (previous?.surface !== undefined) {
      const widening = surfaceWidening(parseSurface(previous.surface, `lockfile entry ${reference}`), surface)
      if (widening.length > 0) {
        if (!opts.approve) {
          const pending = new ApprovalRequiredError(reference, previous.resolved, fresh.resolved, widening)
          if (!opts.confirm || !(await opts.confirm(pending))) throw pending
        }
        const approval: Approval = {from: previous.resolved, widened: widening.map((w) => w.message)}
        entry.approval = approval
      }
    }
    return entry
  }
}

/** The surface of a kit on its registry (undefined for an artifact that is not a kit). */
export function registrySurface(opts: ResolveOptions): (resolved: string) => Promise<PermissionSurface | undefined> {
  return async (resolved) => {
    const ref = parseReference(resolved)
    const repo = new RemoteRepository(ref, opts)
    const descriptor = await repo.resolve(ref.digest!)
    try {
      return await artifactSurface(repo, descriptor, resolved)
    } catch (err) {
      if (err instanceof NotAKitError) return undefined
      throw err
    }
  }
}

export interface LockWithApprovalOptions extends ResolveOptions {
  update?: boolean
  frozen?: boolean
  lockfile?: string
  approve?: boolean
  confirm?: (pending: ApprovalRequiredError) => Promise<boolean>
}

/** `kit lock [--update] [--approve]`: the registry lock with permission surfaces and approvals. */
export async function lockWithApproval(kitsFile: string, opts: LockWithApprovalOptions = {}): Promise<LockResult> {
  return lockFromRegistry(kitsFile, {
    ...opts,
    entry: surfaceEntry({approve: opts.approve === true, confirm: opts.confirm, surfaceOf: registrySurface(opts)}),
  })
}

/**
 * An interactive yes on a terminal: prints what widens and asks. Undefined when stdin or stderr is
 * not a terminal (CI, pipes, --json), so that the refusal stands and only --approve records it.
 */
export function terminalConfirm(json: boolean): ((pending: ApprovalRequiredError) => Promise<boolean>) | undefined {
  if (json || !process.stdin.isTTY || !process.stderr.isTTY) return undefined
  return async (pending) => {
    process.stderr.write(`${pending.reference}: ${pending.from} → ${pending.to} widens its permissions:\n`)
    for (const w of pending.widening) process.stderr.write(`  + ${w.message}\n`)
    const rl = createInterface({input: process.stdin, output: process.stderr})
    try {
      const answer = await rl.question('Approve and record it in the lockfile? [y/N] ')
      return /^y(es)?$/i.test(answer.trim())
    } finally {
      rl.close()
    }
  }
}
