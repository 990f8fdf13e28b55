// A real CNCF distribution registry for tests: `docker-registry serve CONFIG` on a free loopback
// port with a temp root, in three set-ups:
//   startRegistry()                      plain HTTP, anonymous
//   startRegistry({auth: 'htpasswd'})    TLS with a test CA (openssl) + htpasswd basic auth
//   startRegistry({auth: 'token'})       bearer tokens from a token server in this process
//                                        (distribution's auth.token with a test signing cert)
// Credentials are random per start, never committed. Reused by other areas' tests.
import {execFile, spawn, type ChildProcess} from 'node:child_process'
import {createPrivateKey, randomBytes, randomUUID, sign} from 'node:crypto'
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

const run = promisify(execFile)

export interface RegistryOptions {
  /** 'htpasswd': TLS + basic auth; 'token': bearer tokens (plain HTTP unless tls); default none. */
  auth?: 'none' | 'htpasswd' | 'token'
  /** Serve TLS with a test CA (always on with htpasswd). */
  tls?: boolean
  /** Token server: grant anonymous clients pull access (default true). */
  anonymousPull?: boolean
}

export interface TestRegistry {
  /** 127.0.0.1:PORT */
  host: string
  /** http(s)://127.0.0.1:PORT */
  url: string
  /** The registry's storage root (to tamper with blobs in tests). */
  root: string
  /** PEM of the test CA when TLS is on; its file path in caFile. */
  ca?: string
  caFile?: string
  username?: string
  password?: string
  /** Token server URL (auth: 'token'). */
  tokenRealm?: string
  /** An OAuth2 refresh token the token server accepts for `username` (docker's identitytoken). */
  refreshToken?: string
  /** Requests the token server answered (scopes asked for). */
  tokenRequests: Array<{scope: string[]; user?: string}>
  stop(): Promise<void>
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
}

/** A test CA and a server certificate for 127.0.0.1/localhost signed by it. */
export async function makeTestCa(dir: string): Promise<{caFile: string; certFile: string; keyFile: string; ca: string}> {
  await mkdir(dir, {recursive: true})
  const caKey = join(dir, 'ca.key')
  const caFile = join(dir, 'ca.pem')
  const keyFile = join(dir, 'server.key')
  const csr = join(dir, 'server.csr')
  const certFile = join(dir, 'server.pem')
  const ext = join(dir, 'server.ext')
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=kit test CA'])
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', '/CN=127.0.0.1'])
  await writeFile(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n')
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext])
  return {caFile, certFile, keyFile, ca: await readFile(caFile, 'utf8')}
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const auth = opts.auth ?? 'none'
  const tls = opts.tls ?? auth === 'htpasswd'
  const dir = await mkdtemp(join(tmpdir(), 'kit-registry-'))
  const root = join(dir, 'data')
  await mkdir(root)
  const port = await freePort()
  const host = `127.0.0.1:${port}`
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${root}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ]
  const registry: TestRegistry = {host, url: `${tls ? 'https' : 'http'}://${host}`, root, tokenRequests: [], stop: async () => {}}
  let tokenServer: http.Server | undefined
  if (tls) {
    const ca = await makeTestCa(join(dir, 'tls'))
    registry.ca = ca.ca
    registry.caFile = ca.caFile
    lines.push('  tls:', `    certificate: ${ca.certFile}`, `    key: ${ca.keyFile}`)
  }
  if (auth !== 'none') {
    registry.username = 'kit-test'
    registry.password = randomBytes(12).toString('hex')
    registry.refreshToken = randomBytes(12).toString('hex')
  }
  if (auth === 'htpasswd') {
    const {stdout} = await run('htpasswd', ['-Bbn', registry.username!, registry.password!])
    const file = join(dir, 'htpasswd')
    await writeFile(file, stdout)
    lines.push('auth:', '  htpasswd:', '    realm: kit-test', `    path: ${file}`)
  }
  if (auth === 'token') {
    const signing = await makeSigningCert(join(dir, 'token'))
    const service = 'kit-test-registry'
    const issuer = 'kit-test-issuer'
    const server = await startTokenServer({
      keyPem: signing.key,
      certDer: signing.certDer,
      service,
      issuer,
      username: registry.username!,
      password: registry.password!,
      refreshToken: registry.refreshToken!,
      anonymousPull: opts.anonymousPull ?? true,
      log: registry.tokenRequests,
    })
    tokenServer = server.server
    registry.tokenRealm = server.realm
    lines.push('auth:', '  token:', `    realm: ${server.realm}`, `    service: ${service}`, `    issuer: ${issuer}`, `    rootcertbundle: ${signing.certFile}`)
  }
  const config = join(dir, 'config.yml')
  await writeFile(config, lines.join('\n') + '\n')
  const child = spawn('docker-registry', ['serve', config], {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)))
  registry.stop = async () => {
    await stopChild(child)
    if (tokenServer) await new Promise<void>((r) => tokenServer!.close(() => r()))
    await rm(dir, {recursive: true, force: true})
  }
  try {
    await waitReady(registry.url, registry.ca, child)
  } catch (err) {
    await registry.stop()
    throw new Error(`docker-registry did not start: ${(err as Error).message}; ${stderr}`)
  }
  return registry
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

async function waitReady(url: string, ca: string | undefined, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`)
    const ok = await new Promise<boolean>((resolve) => {
      const mod = url.startsWith('https') ? https : http
      const req = mod.get(`${url}/v2/`, {ca, agent: false}, (res) => {
        res.resume()
        resolve(res.statusCode === 200 || res.statusCode === 401)
      })
      req.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error('timed out waiting for /v2/')
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function makeSigningCert(dir: string): Promise<{key: string; certFile: string; certDer: Buffer}> {
  await mkdir(dir, {recursive: true})
  const keyFile = join(dir, 'signing.key')
  const certFile = join(dir, 'signing.pem')
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=kit test token signer'])
  const pem = await readFile(certFile, 'utf8')
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '')
  return {key: await readFile(keyFile, 'utf8'), certFile, certDer: Buffer.from(b64, 'base64')}
}

interface TokenServerOptions {
  keyPem: string
  certDer: Buffer
  service: string
  issuer: string
  username: string
  password: string
  refreshToken: string
  anonymousPull: boolean
  log: Array<{scope: string[]; user?: string}>
}

/**
 * A distribution token server: GET /token?service=&scope= with optional Basic auth, or POST /token
 * with grant_type=refresh_token (OAuth2, docker's identity tokens) → an ES256 JWT.
 */
async function startTokenServer(o: TokenServerOptions): Promise<{server: http.Server; realm: string}> {
  const key = createPrivateKey(o.keyPem)
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString()))
    req.on('end', () => answer(req, res, body))
  })
  const answer = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => {
    const url = new URL(req.url ?? '/', 'http://token')
    if (url.pathname !== '/token') {
      res.writeHead(404).end()
      return
    }
    let user: string | undefined
    if (req.method === 'POST') {
      const form = new URLSearchParams(body)
      if (form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== o.refreshToken) {
        res.writeHead(401, {'content-type': 'application/json'}).end(JSON.stringify({details: 'bad refresh token'}))
        return
      }
      user = o.username
      for (const s of (form.get('scope') ?? '').split(' ')) if (s) url.searchParams.append('scope', s)
    }
    const authz = req.headers.authorization
    if (authz?.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(authz.slice(6), 'base64').toString().split(':')
      if (u !== o.username || p.join(':') !== o.password) {
        res.writeHead(401, {'content-type': 'application/json'}).end(JSON.stringify({details: 'bad credentials'}))
        return
      }
      user = u
    }
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean)
    o.log.push({scope: scopes, user})
    const access = scopes.flatMap((scope) => {
      const [type, ...rest] = scope.split(':')
      const actions = rest.pop()?.split(',') ?? []
      const name = rest.join(':')
      const granted = user ? actions : o.anonymousPull ? actions.filter((a) => a === 'pull') : []
      return granted.length > 0 ? [{type, name, actions: granted}] : []
    })
    const now = Math.floor(Date.now() / 1000)
    const header = {alg: 'ES256', typ: 'JWT', x5c: [o.certDer.toString('base64')]}
    const claims = {iss: o.issuer, sub: user ?? '', aud: o.service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access}
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`
    const signature = sign('sha256', Buffer.from(input), {key, dsaEncoding: 'ieee-p1363'})
    const token = `${input}.${b64url(signature)}`
    res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({token, access_token: token, expires_in: 300}))
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as net.AddressInfo).port
  return {server, realm: `http://127.0.0.1:${port}/token`}
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url')
}
