// kit as a person uses it: help and usage errors, kit init for an editor, YAML mistakes, progress
// in a CI log, kit key generate and kit login at a terminal (a pseudo-terminal), and the GitHub
// Action's steps. Real registries on loopback; the real bin/kit.
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {chmod, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {parse as parseYaml} from 'yaml'
import {runKit} from '../support/cli.js'
import {kitBin, repoRoot, sampleKitsDir} from '../support/paths.js'
import {runInPty} from '../support/pty.js'
import {startRegistry, type TestRegistry} from '../support/registry.js'

const run = promisify(execFile)

describe('kit as a user drives it', function () {
  this.timeout(120_000)
  let dir: string
  let env: NodeJS.ProcessEnv

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kit-cli-user-'))
    env = {PATH: process.env.PATH, HOME: dir, KIT_HOME: join(dir, 'home'), DOCKER_CONFIG: join(dir, 'docker'), KIT_ORG_CONFIG: join(dir, 'org.json')}
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  describe('help, version and usage errors', () => {
    it('kit help CMD, kit CMD -h and kit CMD --help print the same help; -v and --version the version', async () => {
      const help = await runKit(['help', 'push'], {env})
      const short = await runKit(['push', '-h'], {env})
      const long = await runKit(['push', '--help'], {env})
      assert.equal(help.code, 0, help.stderr)
      assert.match(help.stdout, /USAGE\s+\$ kit push SRC DEST/)
      assert.match(help.stdout, /--quiet/)
      assert.equal(short.stdout, help.stdout)
      assert.equal(long.stdout, help.stdout)
      const v = await runKit(['-v'], {env})
      const version = await runKit(['--version'], {env})
      assert.equal(v.code, 0)
      assert.match(v.stdout, /^kit\/\d+\.\d+\.\d+ /)
      assert.equal(v.stdout, version.stdout)
    })

    it('lists ls once (its alias list is hidden) and offers shell completion', async () => {
      const root = await runKit(['--help'], {env})
      assert.match(root.stdout, /^ {2}ls\s/m)
      assert.doesNotMatch(root.stdout, /^ {2}list\s/m)
      assert.match(root.stdout, /^ {2}autocomplete\s/m)
      const list = await runKit(['list', '--json'], {env})
      assert.equal(list.code, 0, list.stderr)
      const script = await runKit(['autocomplete', 'script', 'bash'], {env})
      assert.equal(script.code, 0, script.stderr)
      assert.match(script.stdout, /KIT_AC_BASH_SETUP_PATH/)
    })

    it('a typo is one line, exit 2, with the command that was meant', async () => {
      const r = await runKit(['pus', 'a', 'b'], {env})
      assert.equal(r.code, 2)
      assert.equal(r.stdout, '')
      assert.equal(r.stderr, 'kit: "pus" is not a kit command; did you mean "push"? (kit help lists them)\n')
      const topic = await runKit(['polcy', 'ls'], {env})
      assert.equal(topic.code, 2)
      assert.match(topic.stderr, /did you mean "policy ls"\?/)
      const json = await runKit(['pus', '--json'], {env})
      assert.equal(json.code, 2)
      assert.equal(json.json.error.code, 'USAGE')
    })

    it('an unknown flag, a missing or extra argument, a bad value: one line, exit 2; a JSON error under --json', async () => {
      const cases: Array<[string[], RegExp]> = [
        [['push', '--bogus', 'a', 'b'], /^kit: Nonexistent flag: --bogus \(see kit push --help\)\n$/],
        [['push'], /^kit: missing arguments SRC DEST \(see kit push --help\)\n$/],
        [['push', 'a', 'b', 'c'], /^kit: Unexpected argument: c \(see kit push --help\)\n$/],
        [['init', 'x', '--kind', 'nope'], /^kit: Expected --kind=nope to be one of: mixin, sandbox, agent \(see kit init --help\)\n$/],
      ]
      for (const [args, expected] of cases) {
        const r = await runKit(args, {env})
        assert.equal(r.code, 2, args.join(' '))
        assert.equal(r.stdout, '')
        assert.match(r.stderr, expected)
      }
      const json = await runKit(['push', '--json'], {env})
      assert.equal(json.code, 2)
      assert.deepEqual(json.json, {error: {code: 'USAGE', message: 'missing arguments SRC DEST (see kit push --help)'}})
    })
  })

  describe('authoring', () => {
    it('kit init writes the schema line editors read, naming the schema shipped with kit', async () => {
      const kitDir = join(dir, 'my-mixin')
      const r = await runKit(['init', kitDir, '--kind', 'mixin'], {env})
      assert.equal(r.code, 0, r.stderr)
      const first = (await readFile(join(kitDir, 'spec.yaml'), 'utf8')).split('\n')[0]!
      const m = /^# yaml-language-server: \$schema=(.+)$/.exec(first)
      assert.ok(m, first)
      assert.equal(m[1], join(repoRoot, 'schemas', 'kit-v2.schema.json'))
      assert.equal(JSON.parse(await readFile(m[1]!, 'utf8')).$id, 'https://kit.dev/schemas/kit-v2.schema.json')
      const valid = await runKit(['validate', kitDir], {env})
      assert.equal(valid.code, 0, valid.stderr)
      const url = await runKit(['init', join(dir, 'url-kit'), '--schema', 'https://schemas.example/kit-v2.schema.json'], {env})
      assert.equal(url.code, 0, url.stderr)
      assert.match(await readFile(join(dir, 'url-kit', 'spec.yaml'), 'utf8'), /^# yaml-language-server: \$schema=https:\/\/schemas\.example\/kit-v2\.schema\.json\n/)
      await runKit(['init', join(dir, 'no-schema'), '--no-schema'], {env})
      assert.match(await readFile(join(dir, 'no-schema', 'spec.yaml'), 'utf8'), /^schemaVersion:/)
    })

    it('reports YAML indentation mistakes at the mis-indented line, in words, with a hint', async () => {
      const kitDir = join(dir, 'bad-indent')
      await runKit(['init', kitDir, '--no-schema'], {env})
      const spec = await readFile(join(kitDir, 'spec.yaml'), 'utf8')
      // "version" indented under "name: bad-indent" (line 4), which has a value.
      await writeFile(join(kitDir, 'spec.yaml'), spec.replace(/^version:/m, '  version:'))
      const under = await runKit(['validate', kitDir], {env})
      assert.equal(under.code, 1)
      assert.match(under.stderr, /spec\.yaml:4:3: "version:" is indented under "name:" on line 3, which already has a value: .*hint: start it at column 1/)
      // "deny" between two levels, after "allow".
      const broken = spec.replace(/^( {4}allow:.*)$/m, '$1\n   deny: []')
      await writeFile(join(kitDir, 'spec.yaml'), broken)
      const between = await runKit(['validate', kitDir], {env})
      assert.equal(between.code, 1, between.stdout)
      const line = broken.split('\n').findIndex((l) => l.startsWith('   deny:')) + 1
      assert.match(between.stderr, new RegExp(`spec\\.yaml:${line}:4: "deny:" is indented by 3 spaces, which matches no line above it: .*hint: start it at column 5 to line up with "allow:" on line ${line - 1}, or at column 3 to line up with "network:"`))
    })
  })

  describe('kit key generate on a terminal', () => {
    it('asks for the passphrase twice without echoing it, and again when they differ', async () => {
      const name = join(dir, 'signing')
      const r = await runInPty([process.execPath, kitBin, 'key', 'generate', '--output', name], [
        {expect: 'Enter passphrase for .*signing\\.key: ', send: 'correct horse'},
        {expect: 'Enter same passphrase again: ', send: 'battery staple'},
        {expect: 'Passphrases do not match', send: ''},
        {expect: 'An empty passphrase is not allowed', send: 'correct horse'},
        {expect: 'Enter same passphrase again: ', send: 'correct horse'},
      ], {env, timeoutMs: 60_000})
      assert.equal(r.code, 0, r.output)
      assert.match(r.output, /signing\.key \(private, encrypted\) and .*signing\.pub \(public\); key id sha256:/)
      assert.doesNotMatch(r.output, /correct horse|battery staple/)
      assert.equal((await stat(`${name}.key`)).mode & 0o777, 0o600)
      // The key opens with that passphrase (kit sign reads it from KIT_KEY_PASSWORD).
      const kitDir = join(dir, 'signed-kit')
      await runKit(['init', kitDir, '--no-schema'], {env})
      const built = await runKit(['build', kitDir, '--json'], {env})
      const signed = await runKit(['sign', built.json.reference, '--key', `${name}.key`, '--json'], {env: {...env, KIT_KEY_PASSWORD: 'correct horse'}})
      assert.equal(signed.code, 0, signed.stderr + signed.stdout)
      const wrong = await runKit(['sign', built.json.reference, '--key', `${name}.key`], {env: {...env, KIT_KEY_PASSWORD: 'battery staple'}})
      assert.notEqual(wrong.code, 0)
    })

    it('without a terminal it still reads KIT_KEY_PASSWORD or stdin and never prompts', async () => {
      const r = await runKit(['key', 'generate', '--output', join(dir, 'piped')], {env, input: 'from stdin\n'})
      assert.equal(r.code, 0, r.stderr)
      assert.doesNotMatch(r.stderr, /Enter/)
    })
  })

  describe('kit login and push against a registry', () => {
    let registry: TestRegistry
    before(async () => {
      registry = await startRegistry({auth: 'token', anonymousPull: false})
    })
    after(async () => {
      await registry?.stop()
    })

    it('on a terminal asks for the user name and a hidden password, stores a plain file and warns', async () => {
      const home = {...env, KIT_HOME: join(dir, 'home-login'), DOCKER_CONFIG: join(dir, 'docker-none')}
      const r = await runInPty([process.execPath, kitBin, 'login', registry.host], [
        {expect: 'Username: ', send: registry.username!},
        {expect: 'Password: ', send: registry.password!},
      ], {env: home})
      assert.equal(r.code, 0, r.output)
      assert.ok(!r.output.includes(registry.password!), 'the password was echoed')
      assert.match(r.output, /kit: warning: the password is stored unencrypted in .*auth\.json; configure a docker credential helper/)
      assert.match(r.output, new RegExp(`Logged in to ${registry.host.replace(/\./g, '\\.')} as ${registry.username}`))
      const auth = JSON.parse(await readFile(join(dir, 'home-login', 'auth.json'), 'utf8'))
      assert.ok(auth.auths[registry.host])
    })

    it('stores through the credential helper docker\'s config names, with the secret on stdin, and pushes with it', async () => {
      const bin = join(dir, 'helper-bin')
      const vault = join(dir, 'vault')
      await mkdir(bin, {recursive: true})
      await mkdir(vault, {recursive: true})
      // A credential helper speaking docker's protocol, keeping entries as files (a test fixture).
      const helper = join(bin, 'docker-credential-kittest')
      await writeFile(helper, `#!/bin/sh
set -e
case "$1" in
  store) cat > "${vault}/entry.json"; printf '%s\\n' "$*" > "${vault}/argv" ;;
  get) read server || true; if [ -f "${vault}/entry.json" ]; then cat "${vault}/entry.json"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) rm -f "${vault}/entry.json" ;;
esac
`)
      await chmod(helper, 0o755)
      const docker = join(dir, 'docker-helper')
      await mkdir(docker, {recursive: true})
      await writeFile(join(docker, 'config.json'), JSON.stringify({credsStore: 'kittest'}))
      const home = {...env, PATH: `${bin}:${process.env.PATH}`, KIT_HOME: join(dir, 'home-helper'), DOCKER_CONFIG: docker, CI: '1'}
      const login = await runKit(['login', registry.host, '--username', registry.username!, '--password-stdin'], {env: home, input: registry.password + '\n'})
      assert.equal(login.code, 0, login.stderr)
      assert.doesNotMatch(login.stderr, /warning/)
      assert.match(login.stdout, /credentials in docker-credential-kittest/)
      const entry = JSON.parse(await readFile(join(vault, 'entry.json'), 'utf8'))
      assert.deepEqual(entry, {ServerURL: registry.host, Username: registry.username, Secret: registry.password})
      assert.equal((await readFile(join(vault, 'argv'), 'utf8')).trim(), 'store')
      await assert.rejects(stat(join(dir, 'home-helper', 'auth.json')))
      // Progress in a CI log: one line per blob and stage; --quiet: none.
      const kitDir = join(dir, 'gh')
      await cp(join(sampleKitsDir, 'github'), kitDir, {recursive: true})
      const pushed = await runKit(['push', kitDir, `${registry.host}/team/gh:1.0.0`], {env: home})
      assert.equal(pushed.code, 0, pushed.stderr)
      const lines = pushed.stderr.trimEnd().split('\n')
      assert.equal(lines[0], `pushing ${registry.host}/team/gh:1.0.0`)
      for (const l of lines.slice(1)) assert.match(l, /^sha256:[0-9a-f]{12}… (pushing|pushed|already present|mounted from \S+)( \d+(\.\d)? (B|kB|MB|GB))?$/, l)
      assert.ok(lines.some((l) => /… pushed \d+(\.\d)? (B|kB|MB)$/.test(l)), pushed.stderr)
      assert.match(pushed.stdout, /tags: 1\.0\.0, 1\.0, 1, latest; \d+(\.\d)? (B|kB|MB) uploaded/)
      const pulled = await runKit(['pull', `${registry.host}/team/gh:1.0.0`], {env: {...home, KIT_HOME: join(dir, 'home-pull')}})
      assert.equal(pulled.code, 0, pulled.stderr)
      assert.match(pulled.stderr, /^pulling .*\n(sha256:[0-9a-f]{12}… (pulling|pulled) .*\n)+$/)
      const quiet = await runKit(['pull', `${registry.host}/team/gh:1.0.0`, '--quiet'], {env: {...home, KIT_HOME: join(dir, 'home-pull-quiet')}})
      assert.equal(quiet.code, 0, quiet.stderr)
      assert.equal(quiet.stderr, '')
      const logout = await runKit(['logout', registry.host], {env: home})
      assert.equal(logout.code, 0, logout.stderr)
      await assert.rejects(stat(join(vault, 'entry.json')))
    })

    it('the GitHub Action\'s steps log in from stdin, build, push with semver tags, sign and output the digest', async () => {
      const action = parseYaml(await readFile(join(repoRoot, 'action.yml'), 'utf8')) as {runs: {steps: Array<{name?: string; id?: string; run?: string; env?: Record<string, string>}>}}
      const keyName = join(dir, 'action-key')
      await runKit(['key', 'generate', '--output', keyName], {env: {...env, KIT_KEY_PASSWORD: 'action pass'}})
      const kitDir = join(dir, 'action-kit')
      await cp(join(sampleKitsDir, 'github'), kitDir, {recursive: true})
      const inputs: Record<string, string> = {
        kit: kitDir,
        repository: `${registry.host}/team/action-kit`,
        tag: 'v4.5.6',
        registry: '',
        username: registry.username!,
        password: registry.password!,
        'signing-key': await readFile(`${keyName}.key`, 'utf8'),
        'signing-key-password': 'action pass',
        provenance: 'false',
      }
      const runner = join(dir, 'runner')
      const shim = join(runner, 'bin')
      await mkdir(shim, {recursive: true})
      // `kit` on PATH is this checkout's bin/kit (the install step is the package test's business).
      await writeFile(join(shim, 'kit'), `#!/bin/sh\nexec "${process.execPath}" "${kitBin}" "$@"\n`)
      await chmod(join(shim, 'kit'), 0o755)
      const output = join(runner, 'output')
      await writeFile(output, '')
      const base = {...env, PATH: `${shim}:${process.env.PATH}`, KIT_HOME: join(dir, 'home-action'), RUNNER_TEMP: runner, GITHUB_OUTPUT: output, CI: 'true'}
      for (const name of ['Log in', 'Validate and build', 'Push (and sign)']) {
        const step = action.runs.steps.find((s) => s.name === name)!
        const stepEnv: Record<string, string> = {}
        for (const [k, v] of Object.entries(step.env ?? {})) stepEnv[k] = v.replace(/\$\{\{ inputs\.([\w-]+) \}\}/g, (_, i: string) => inputs[i] ?? '')
        const {stderr} = await run('bash', ['-c', step.run!], {env: {...base, ...stepEnv}})
        assert.ok(!stderr.includes(registry.password!))
      }
      const out = Object.fromEntries((await readFile(output, 'utf8')).trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
      assert.match(out.digest!, /^sha256:[0-9a-f]{64}$/)
      assert.equal(out.reference, `${registry.host}/team/action-kit:4.5.6`)
      assert.equal(out.tags, '4.5.6,4.5,4,latest')
      await assert.rejects(stat(join(runner, 'kit-signing.key')))
      const verified = await runKit(['verify', out.reference!, '--key', `${keyName}.pub`, '--json'], {env: base})
      assert.equal(verified.code, 0, verified.stderr + verified.stdout)
    })
  })
})
