// in-toto statements (v1): what a DSSE envelope in a bundle carries. kit signs an OCI manifest with
// the statement cosign writes for `cosign sign` (predicate type .../cosign/sign/v1, subject = the
// manifest digest) and attaches provenance as a statement with the SLSA provenance v1 predicate.
import {BundleError} from './errors.js'

export const IN_TOTO_STATEMENT_TYPE = 'https://in-toto.io/Statement/v1'
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json'
/** The predicate of a plain signature over an image, as cosign's new bundle format writes it. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1'
export const SLSA_PROVENANCE_PREDICATE = 'https://slsa.dev/provenance/v1'

export interface StatementSubject {
  name: string
  digest: Record<string, string>
}

export interface InTotoStatement<P = unknown> {
  _type: typeof IN_TOTO_STATEMENT_TYPE
  subject: StatementSubject[]
  predicateType: string
  predicate: P
}

/** A statement about one OCI manifest (`digest` is `sha256:<hex>`). */
export function statementFor<P>(name: string, digest: string, predicateType: string, predicate: P): InTotoStatement<P> {
  const [alg, hex] = splitDigest(digest)
  return {_type: IN_TOTO_STATEMENT_TYPE, subject: [{name, digest: {[alg]: hex}}], predicateType, predicate}
}

/** Parses and checks the shape of a statement from a DSSE payload. */
export function parseStatement(payload: Buffer, where: string): InTotoStatement {
  let value: unknown
  try {
    value = JSON.parse(payload.toString('utf8'))
  } catch {
    throw new BundleError(where, 'the DSSE payload is not JSON')
  }
  const s = value as Partial<InTotoStatement>
  if (!s || typeof s !== 'object' || s._type !== IN_TOTO_STATEMENT_TYPE) throw new BundleError(where, `the DSSE payload is not an in-toto ${IN_TOTO_STATEMENT_TYPE} statement`)
  if (typeof s.predicateType !== 'string') throw new BundleError(where, 'the statement has no predicateType')
  if (!Array.isArray(s.subject) || s.subject.length === 0) throw new BundleError(where, 'the statement has no subject')
  for (const sub of s.subject) {
    if (!sub || typeof sub !== 'object' || !sub.digest || typeof sub.digest !== 'object') throw new BundleError(where, 'the statement has a subject without a digest')
  }
  return s as InTotoStatement
}

/** True when one of the statement's subjects is `digest` (`sha256:<hex>`). */
export function statementCovers(statement: InTotoStatement, digest: string): boolean {
  const [alg, hex] = splitDigest(digest)
  return statement.subject.some((s) => s.digest[alg] === hex)
}

/** The subject digests a statement names, as `alg:hex`. */
export function statementDigests(statement: InTotoStatement): string[] {
  return statement.subject.flatMap((s) => Object.entries(s.digest).map(([alg, hex]) => `${alg}:${hex}`))
}

function splitDigest(digest: string): [string, string] {
  const i = digest.indexOf(':')
  if (i <= 0) throw new Error(`invalid digest ${JSON.stringify(digest)}`)
  return [digest.slice(0, i), digest.slice(i + 1)]
}
