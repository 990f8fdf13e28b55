// The fake upstreams of the runtime suites, on loopback: an "api.anthropic.com" that answers 200
// only to the real key in x-api-key, and a git smart-HTTP server standing in for github.com that
// takes only basic auth with the real token, both behind a test CA (the proxy is told to trust it).
// The two secrets are generated here and bound with `kit secret set` on stdin: never in argv,
// never committed. Also: the sample agent image (built once per machine, imported per KIT_HOME).
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, writeFileSync} from 'node:fs'
import https from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {SecureContext} from 'node:tls'
import {testCA} from '../proxy/fixtures.js'
import {runKit} from './cli.js'
import {gitHttpBackend} from './git-http.js'
import {repoRoot} from './paths.js'
import {vmSkipReason} from '../vm/support.js'

/** Where scripts/build-sample-image.sh keeps the sample image tarball between test files. */
export const SAMPLE_CACHE = join(tmpdir(), 'kit-test-sample-image')

/** Why the sample agent cannot run here (no QEMU, no mmdebstrap), or undefined. */
export function sampleAgentSkipReason(): string | undefined {
  return vmSkipReason() ?? (spawnSync('sh', ['-c', 'command -v mmdebstrap']).status === 0 ? undefined : 'mmdebstrap is not installed')
}

/** Builds (once per machine) and imports the sample agent image into env's KIT_HOME. */
export function importSampleImage(env: NodeJS.ProcessEnv): void {
  const built = spawnSync(join(repoRoot, 'scripts', 'build-sample-image.sh'), [], {env: {...env, KIT_SAMPLE_IMAGE_CACHE: SAMPLE_CACHE}, encoding: 'utf8', timeout: 480_000})
  assert.equal(built.status, 0, `build-sample-image.sh: ${built.stderr}`)
}

export interface FakeUpstreams {
  /** PEM file of the CA the upstreams' certificates chain to (kit run --upstream-ca). */
  caPath: string
  apiPort: number
  gitPort: number
  anthropicKey: string
  githubToken: string
  /** What the fake API saw: the x-api-key of each request. */
  apiSeen: Array<{key: string | undefined; url: string}>
  /** The Authorization headers the git server saw. */
  gitAuth: string[]
  close(): Promise<void>
}

export async function startFakeUpstreams(base: string, env: NodeJS.ProcessEnv): Promise<FakeUpstreams> {
  const apiSeen: FakeUpstreams['apiSeen'] = []
  const gitAuth: string[] = []
  const anthropicKey = `sk-ant-test-${randomBytes(18).toString('hex')}`
  const githubToken = `ghs_${randomBytes(18).toString('hex')}`
  const ca = await testCA(join(base, 'upstream-ca'))
  const sni = {SNICallback: (n: string, cb: (e: Error | null, c?: SecureContext) => void) => ca.contextFor(n).then((c) => cb(null, c), (e: Error) => cb(e))}
  const api = https.createServer(sni, (req, res) => {
    apiSeen.push({key: req.headers['x-api-key'] as string | undefined, url: req.url ?? ''})
    req.resume()
    req.on('end', () => {
      const ok = req.headers['x-api-key'] === anthropicKey
      const body = JSON.stringify({ok, model: 'fake'})
      res.writeHead(ok ? 200 : 401, {'content-type': 'application/json', 'content-length': String(body.length)})
      res.end(body)
    })
  })
  const repos = join(base, 'repos')
  const src = join(base, 'src')
  const genv = {...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com', GIT_CONFIG_NOSYSTEM: '1', HOME: base}
  const git = (...args: string[]) => assert.equal(spawnSync('git', args, {env: genv}).status, 0, `git ${args.join(' ')}`)
  git('init', '-q', '-b', 'main', src)
  writeFileSync(join(src, 'README.md'), 'cloned through the sandbox proxy\n')
  git('-C', src, 'add', '.')
  git('-C', src, 'commit', '-q', '-m', 'one')
  mkdirSync(join(repos, 'acme'), {recursive: true})
  git('clone', '-q', '--bare', src, join(repos, 'acme', 'demo.git'))
  const gh = https.createServer(sni, gitHttpBackend(repos, gitAuth, () => 'Basic ' + Buffer.from(`x-access-token:${githubToken}`).toString('base64')))
  for (const s of [api, gh]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  for (const [service, value] of [['anthropic', anthropicKey], ['github', githubToken]] as const) {
    const r = await runKit(['secret', 'set', service], {env, input: value + '\n', timeoutMs: 120_000})
    assert.equal(r.code, 0, `kit secret set ${service}: ${r.stderr}`)
  }
  const port = (s: https.Server) => (s.address() as {port: number}).port
  return {
    caPath: ca.certPath,
    apiPort: port(api),
    gitPort: port(gh),
    anthropicKey,
    githubToken,
    apiSeen,
    gitAuth,
    close: async () => {
      for (const s of [api, gh]) await new Promise<void>((r) => s.close(() => r()))
    },
  }
}

/**
 * The agent's `say` lines (env_anthropic, env_github, api) and what the fake API saw: the guest
 * held placeholders only, and its one call reached the upstream with the real key.
 */
export function assertApiCallInjected(out: Record<string, string>, up: FakeUpstreams): void {
  assert.equal(out.env_anthropic, 'proxy-managed')
  assert.equal(out.env_github, 'proxy-managed')
  assert.equal(out.api, '{"ok":true,"model":"fake"}')
  assert.deepEqual(up.apiSeen.map((s) => [s.url, s.key === up.anthropicKey]), [['/v1/messages', true]])
}

/** The agent's git clone (git_rc, git_readme) worked, and every request carried the real token as HTTP Basic. */
export function assertGitCloneInjected(out: Record<string, string>, up: FakeUpstreams): void {
  assert.equal(out.git_rc, '0', out.git_err)
  assert.equal(out.git_readme, 'cloned through the sandbox proxy')
  assert.ok(up.gitAuth.length > 0 && up.gitAuth.every((a) => a === 'Basic ' + Buffer.from(`x-access-token:${up.githubToken}`).toString('base64')))
}
