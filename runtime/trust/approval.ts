// Approval of widened permissions in the lockfile. Each locked kit records its permission surface;
// `kit lock --update` computes the surface of the version it would move to and, when that is wider
// than the recorded one (a new allow, a removed deny, a new credential or inject domain, a new
// install command...), stops with the list instead of writing. `--approve` records the new surface
// with what was approved. A narrower or equal surface passes.
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
        if (!opts.approve) throw new ApprovalRequiredError(reference, previous.resolved, fresh.resolved, widening)
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
}

/** `kit lock [--update] [--approve]`: the registry lock with permission surfaces and approvals. */
export async function lockWithApproval(kitsFile: string, opts: LockWithApprovalOptions = {}): Promise<LockResult> {
  return lockFromRegistry(kitsFile, {
    ...opts,
    entry: surfaceEntry({approve: opts.approve === true, surfaceOf: registrySurface(opts)}),
  })
}
