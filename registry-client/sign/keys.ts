// Signing keys: ECDSA P-256, the private key as PKCS#8 PEM encrypted with a passphrase (PBES2:
// PBKDF2 + AES-256-CBC), the public key as SPKI PEM. A key is named by the SHA-256 of its SPKI DER:
// `sha256:<hex>` to people (what `kit key generate` prints), base64 as the hint in bundles.
import {createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject} from 'node:crypto'
import {readFile, stat} from 'node:fs/promises'
import {atomicWrite} from '../atomic.js'
import {KeyError} from './errors.js'

export interface GeneratedKeyPair {
  /** PKCS#8 PEM, encrypted with the passphrase. */
  privateKeyPem: string
  /** SPKI PEM. */
  publicKeyPem: string
  keyId: string
}

/** The curve every kit key uses (OpenSSL's name for P-256). */
const CURVE = 'prime256v1'
/** Key files are small; anything larger is not a key. */
const MAX_KEY_FILE_BYTES = 64 * 1024

export function generateKeyPair(passphrase: string): GeneratedKeyPair {
  if (passphrase.length === 0) throw new KeyError('passphrase', 'an empty passphrase is not allowed (set KIT_KEY_PASSWORD or pipe one on stdin)')
  const {privateKey, publicKey} = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: {type: 'spki', format: 'pem'},
    privateKeyEncoding: {type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase},
  })
  return {privateKeyPem: privateKey, publicKeyPem: publicKey, keyId: keyId(createPublicKey(publicKey))}
}

/** Writes NAME.key (0600) and NAME.pub (0644), each by temp file and rename; refuses to overwrite unless `force`. */
export async function writeKeyPair(name: string, pair: GeneratedKeyPair, force = false): Promise<{privateKeyPath: string; publicKeyPath: string}> {
  const privateKeyPath = `${name}.key`
  const publicKeyPath = `${name}.pub`
  if (!force) {
    for (const p of [privateKeyPath, publicKeyPath]) {
      if (await stat(p).then(() => true, () => false)) throw new KeyError(p, 'already exists (use --force to replace it)')
    }
  }
  await atomicWrite(privateKeyPath, pair.privateKeyPem, 0o600)
  await atomicWrite(publicKeyPath, pair.publicKeyPem, 0o644)
  return {privateKeyPath, publicKeyPath}
}

/** `sha256:<hex>` of the key's SPKI DER: how kit names a key to people. */
export function keyId(key: KeyObject): string {
  return 'sha256:' + spkiSha256(key).toString('hex')
}

/** The bundle's public-key hint: base64 of the SHA-256 of the SPKI DER, as sigstore-go writes it. */
export function keyHint(key: KeyObject): string {
  return spkiSha256(key).toString('base64')
}

function spkiSha256(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  return createHash('sha256').update(pub.export({type: 'spki', format: 'der'})).digest()
}

async function readKeyFile(path: string): Promise<string> {
  let size: number
  try {
    size = (await stat(path)).size
  } catch (err) {
    throw new KeyError(path, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such key file' : (err as Error).message)
  }
  if (size > MAX_KEY_FILE_BYTES) throw new KeyError(path, `is ${size} bytes, too large to be a key`)
  return readFile(path, 'utf8')
}

function checkCurve(path: string, key: KeyObject): void {
  const details = key.asymmetricKeyDetails
  if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== CURVE) {
    throw new KeyError(path, `is a ${key.asymmetricKeyType ?? 'unknown'}${details?.namedCurve ? ' ' + details.namedCurve : ''} key; kit signs with ECDSA P-256`)
  }
}

/** Reads and decrypts a private key file. The passphrase never appears in an error. */
export async function readPrivateKey(path: string, passphrase: string): Promise<KeyObject> {
  const pem = await readKeyFile(path)
  if (!/-----BEGIN (ENCRYPTED )?PRIVATE KEY-----/.test(pem)) {
    throw new KeyError(path, /PUBLIC KEY/.test(pem) ? 'is a public key; sign with the .key file' : 'is not a PKCS#8 PEM private key')
  }
  let key: KeyObject
  try {
    key = createPrivateKey({key: pem, format: 'pem', passphrase})
  } catch (err) {
    const msg = (err as Error).message
    if (/bad decrypt|passphrase|decrypt/i.test(msg) || (err as {code?: string}).code === 'ERR_OSSL_BAD_DECRYPT') {
      throw new KeyError(path, 'wrong passphrase (from KIT_KEY_PASSWORD or stdin)')
    }
    // A wrong passphrase decrypts to garbage with valid padding about once in 256 tries; OpenSSL
    // then fails to decode it instead of reporting a bad decrypt.
    if (/ENCRYPTED PRIVATE KEY/.test(pem) && /DECODER|unsupported/i.test(msg)) {
      throw new KeyError(path, 'wrong passphrase (from KIT_KEY_PASSWORD or stdin), or a damaged key file')
    }
    throw new KeyError(path, `cannot read the private key (${msg})`)
  }
  checkCurve(path, key)
  return key
}

/** Reads a public key (SPKI PEM) from a file. */
export async function readPublicKey(path: string): Promise<KeyObject> {
  return parsePublicKey(await readKeyFile(path), path)
}

/** Parses a public key PEM; `where` names it in errors. */
export function parsePublicKey(pem: string, where: string): KeyObject {
  if (!/-----BEGIN PUBLIC KEY-----/.test(pem)) {
    throw new KeyError(where, /PRIVATE KEY/.test(pem) ? 'is a private key; verify with the .pub file' : 'is not a PEM public key')
  }
  let key: KeyObject
  try {
    key = createPublicKey({key: pem, format: 'pem'})
  } catch (err) {
    throw new KeyError(where, `cannot read the public key (${(err as Error).message})`)
  }
  checkCurve(where, key)
  return key
}
