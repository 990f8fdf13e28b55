// The per-installation CA of the policy proxy, and the leaf certificates it issues for the hosts
// it terminates. The CA key (ECDSA P-256) is created once in KIT_HOME/proxy/, mode 0600, and never
// leaves the host: the guest (or any client) gets only the CA certificate. Leaf certificates are
// made on demand, one per host, signed with the CA and cached in memory; all leaves of one process
// share one key pair (generating a key per host would cost more than it protects: they live and
// die with the process).
import {webcrypto, randomBytes, X509Certificate as NodeX509} from 'node:crypto'
import {chmod, mkdir, readFile, rename, rmdir, writeFile} from 'node:fs/promises'
import {isIP} from 'node:net'
import {hostname} from 'node:os'
import {join} from 'node:path'
import {createSecureContext, type SecureContext} from 'node:tls'
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import {kitHome} from '../home.js'

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair
const crypto = webcrypto
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

const EC = {name: 'ECDSA', namedCurve: 'P-256'} as const
const SIGN = {name: 'ECDSA', hash: 'SHA-256'} as const

export function caDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(kitHome(env), 'proxy')
}

export function caPaths(env: NodeJS.ProcessEnv = process.env): {cert: string; key: string} {
  const dir = caDir(env)
  return {cert: join(dir, 'ca.pem'), key: join(dir, 'ca-key.pem')}
}

export class CAError extends Error {
  readonly code = 'E_PROXY_CA'
  constructor(message: string) {
    super(message)
    this.name = 'CAError'
  }
}

export interface CA {
  certPath: string
  certPem: string
  /** A TLS context for a host (a DNS name or an IP address), cached. */
  contextFor(host: string): Promise<SecureContext>
}

async function writeAtomic(file: string, content: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  await writeFile(tmp, content, {mode})
  await chmod(tmp, mode)
  await rename(tmp, file)
}

async function readPair(paths: {cert: string; key: string}): Promise<{certPem: string; keyPem: string} | undefined> {
  try {
    const [certPem, keyPem] = await Promise.all([readFile(paths.cert, 'utf8'), readFile(paths.key, 'utf8')])
    return {certPem, keyPem}
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
}

/** The CA of this installation, created on first use. */
export async function loadOrCreateCA(env: NodeJS.ProcessEnv = process.env): Promise<CA> {
  const dir = caDir(env)
  const paths = caPaths(env)
  await mkdir(dir, {recursive: true, mode: 0o700})
  let pair = await readPair(paths)
  if (!pair) {
    // One creator at a time (two proxies starting on a fresh KIT_HOME): mkdir is the lock.
    const lock = join(dir, 'ca.lock')
    const deadline = Date.now() + 15_000
    while (!pair) {
      try {
        await mkdir(lock)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
        if (Date.now() > deadline) throw new CAError(`${lock} is held by another process; remove it if none is running`)
        await new Promise((r) => setTimeout(r, 50))
        pair = await readPair(paths)
        continue
      }
      try {
        pair = await readPair(paths)
        if (!pair) {
          const created = await createCA()
          // The key first: a cert without its key is useless, a key without its cert gets replaced.
          await writeAtomic(paths.key, created.keyPem, 0o600)
          await writeAtomic(paths.cert, created.certPem, 0o644)
          pair = created
        }
      } finally {
        await rmdir(lock).catch(() => undefined)
      }
    }
  }
  const {certPem, keyPem} = pair
  await chmod(paths.key, 0o600)
  let caKey: CryptoKey
  let caCert: x509.X509Certificate
  try {
    caCert = new x509.X509Certificate(certPem)
    caKey = await crypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), EC, false, ['sign'])
  } catch (e) {
    throw new CAError(`${dir}: cannot read the proxy CA: ${(e as Error).message}`)
  }
  return new LeafIssuer(paths.cert, certPem, caCert, caKey)
}

async function createCA(): Promise<{certPem: string; keyPem: string}> {
  const keys = (await crypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair
  const name = `CN=kit proxy CA ${hostname().replace(/[,=+<>#;"\\]/g, '-')} ${randomBytes(4).toString('hex')}, O=kit`
  const now = Date.now()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name,
    keys,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 10 * 365 * 86400_000),
    signingAlgorithm: SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey)
  return {certPem: cert.toString('pem') + '\n', keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n'}
}

function randomSerial(): string {
  const b = randomBytes(16)
  b[0] = b[0]! & 0x7f // positive
  return b.toString('hex')
}

class LeafIssuer implements CA {
  private leafKeys: Promise<{keys: CryptoKeyPair; pem: string}> | undefined
  private readonly cache = new Map<string, {context: Promise<SecureContext>; renewAt: number}>()

  constructor(
    readonly certPath: string,
    readonly certPem: string,
    private readonly caCert: x509.X509Certificate,
    private readonly caKey: CryptoKey,
  ) {
    // Fail early on an expired CA rather than with a confusing client error later.
    const c = new NodeX509(certPem)
    if (new Date(c.validTo).getTime() < Date.now()) throw new CAError(`${certPath}: the proxy CA has expired; remove it to make a new one`)
  }

  contextFor(host: string): Promise<SecureContext> {
    const h = host.toLowerCase()
    const hit = this.cache.get(h)
    // Leaves live 7 days; a long-running proxy renews them daily.
    if (hit && hit.renewAt > Date.now()) return hit.context
    if (this.cache.size >= 2000) this.cache.clear()
    const context = this.issue(h)
    this.cache.set(h, {context, renewAt: Date.now() + 86400_000})
    context.catch(() => this.cache.delete(h))
    return context
  }

  private keys(): Promise<{keys: CryptoKeyPair; pem: string}> {
    if (!this.leafKeys) {
      this.leafKeys = (async () => {
        const keys = (await crypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair
        const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey)
        return {keys, pem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')}
      })()
    }
    return this.leafKeys
  }

  private async issue(host: string): Promise<SecureContext> {
    const {keys, pem} = await this.keys()
    const ip = isIP(host) !== 0
    const now = Date.now()
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${ip ? host : host.slice(0, 64)}`,
      issuer: this.caCert.subject,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 7 * 86400_000),
      signingAlgorithm: SIGN,
      publicKey: keys.publicKey,
      signingKey: this.caKey,
      extensions: [
        new x509.SubjectAlternativeNameExtension([ip ? {type: 'ip', value: host} : {type: 'dns', value: host}]),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(this.caCert.publicKey),
      ],
    })
    return createSecureContext({key: pem, cert: cert.toString('pem'), minVersion: 'TLSv1.2'})
  }
}
