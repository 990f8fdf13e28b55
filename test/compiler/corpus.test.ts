// Conformance with real kits from Docker's public catalog and docs (../shared/corpus). The folder is
// walked, so kits added there later are covered too.
import assert from 'node:assert/strict'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parse} from 'yaml'
import {loadKit, validateKit} from '../../kit-compiler/load.js'
import {formatDiagnostic} from '../../kit-compiler/diagnostics.js'
import {composeKitList} from '../../kit-compiler/compose.js'
import {buildKit} from '../../kit-compiler/build.js'
import {inspectKit} from '../../kit-compiler/artifact.js'
import {Annotation} from '../../kit-compiler/model.js'
import {OciLayoutStore} from '../../registry-client/layout-store.js'
import {corpusDir, repoRoot, sampleKitsDir} from '../support/paths.js'

/** The catalog snapshot this repository keeps (test/fixtures/catalog): public kits the corpus lacks. */
const catalogDir = join(repoRoot, 'test', 'fixtures', 'catalog')

const kitsIn = (dir: string) => (existsSync(dir) ? readdirSync(dir, {withFileTypes: true}).filter((e) => e.isDirectory()).map((e) => join(dir, e.name)) : [])

describe('corpus: real kits validate', function () {
  before(function () {
    if (!existsSync(corpusDir)) throw new Error(`corpus not found at ${corpusDir} (../shared/corpus beside the clone)`)
  })

  for (const dir of [...kitsIn(join(corpusDir, 'kits')), ...kitsIn(join(corpusDir, 'uncertain'))]) {
    it(`${dir.split('/').slice(-2).join('/')} is valid`, async () => {
      const result = await validateKit(dir)
      assert.ok(result.valid, result.diagnostics.map(formatDiagnostic).join('\n'))
    })
  }

  it('v1 kits normalise to the v2 model (claude-v1)', async () => {
    const kit = await loadKit(join(corpusDir, 'kits', 'claude-v1'))
    assert.equal(kit.schemaVersion, '1')
    assert.equal(kit.spec.kind, 'sandbox')
    assert.equal(kit.spec.sandbox?.image, 'docker/sandbox-templates:claude-code-docker')
    assert.deepEqual(kit.spec.sandbox?.entrypoint, ['claude', '--dangerously-skip-permissions'])
    assert.equal(kit.spec.agentInstructions?.filename, 'CLAUDE.md')
    const anthropic = kit.spec.credentials?.find((c) => c.service === 'anthropic')
    assert.equal(anthropic?.apiKey?.name, 'ANTHROPIC_API_KEY')
    assert.deepEqual(anthropic?.apiKey?.inject?.map((i) => [i.domain, i.header, i.format]), [
      ['api.anthropic.com', 'x-api-key', '%s'],
      ['console.anthropic.com', 'x-api-key', '%s'],
    ])
    // v1 service domains are reachable by being service domains; v2 spells the allow out.
    assert.deepEqual(kit.spec.permissions?.network?.allow, ['claude.com:443', 'api.anthropic.com', 'console.anthropic.com'])
    assert.equal(kit.spec.setup?.install?.[0].user, '1000')
    assert.ok(kit.warnings.some((w) => /credentials\.sources is host-side discovery/.test(w.message)))
  })

  it('uncertain/docker: sbx accepts caps: and commands: in a v1 file, so kit does', async () => {
    // sbx's v1 grammar (spec/types.go specFile) has `caps: {network: {allow, deny}}`, a draft name of
    // v2's permissions:, and `commands:` is the v1 name of setup:. Both are folded into the v2 model.
    const kit = await loadKit(join(corpusDir, 'uncertain', 'docker'))
    assert.ok(kit.spec.permissions?.network?.allow?.includes('registry-1.docker.io:443'))
    assert.equal(kit.spec.setup?.startup?.[0].user, '0')
    assert.equal(kit.spec.setup?.startup?.[0].command[0], 'sh')
  })

  it('uncertain/github-mixin: an inject domain outside the allow list is a warning, not an error', async () => {
    // sbx's own validator (spec/validate.go, ValidateArtifact) never checks inject domains against
    // permissions.network.allow, and SPEC-v2 ships this exact kit as an example, so it must load.
    // By the rule grammar `*.github.com` covers exactly one label below github.com and not github.com
    // itself, so the basic-auth inject for github.com only fires when some other rule (another kit,
    // the balanced tier, a local rule) allows github.com: kit says so in a warning instead of hiding it.
    const kit = await loadKit(join(corpusDir, 'uncertain', 'github-mixin'))
    const warning = kit.warnings.find((w) => w.code === 'inject-not-allowed')
    assert.ok(warning, 'expected an inject-not-allowed warning')
    assert.match(warning.message, /"github\.com" is not covered/)
    assert.equal(warning.line, 13)
    assert.equal(kit.warnings.filter((w) => w.code === 'inject-not-allowed').length, 1, 'api.github.com and raw.githubusercontent.com are covered')
  })

  it('every corpus mixin composes with every corpus agent kit whose requirements it meets', async () => {
    const dirs = kitsIn(join(corpusDir, 'kits'))
    const kits = await Promise.all(dirs.map((d) => loadKit(d)))
    const agents = kits.filter((k) => k.spec.kind === 'sandbox')
    const mixins = kits.filter((k) => k.spec.kind === 'mixin')
    assert.ok(agents.length >= 2 && mixins.length >= 3)
    for (const agent of agents) {
      // requires.agent pins a mixin to one agent kit; the others leave it out (a composition error).
      const fitting = mixins.filter((m) => !m.spec.requires?.agent || m.spec.requires.agent === agent.spec.name)
      const {sandbox} = composeKitList([agent, ...fitting].map((k) => ({spec: k.spec, files: k.files})))
      assert.equal(sandbox.agent.name, agent.spec.name)
      assert.equal(sandbox.kits.length, fitting.length + 1)
      assert.equal(sandbox.memory.sections.length, fitting.filter((m) => m.spec.agentInstructions?.content).length)
    }
  })
})

// Every kit sbx accepts (../shared/corpus/kits, uncertain/ and the catalog snapshot): valid, built
// into a store, composed with the sample agent (a mixin) or the sample mixins (an agent), and shown
// by kit inspect with the spec, annotations and files the source has. Nothing is run.
describe('corpus and catalog snapshot: every kit validates, builds, composes and inspects', function () {
  this.timeout(300_000)
  let work: string
  let store: OciLayoutStore
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kit-corpus-build-'))
    store = await OciLayoutStore.open(join(work, 'store'))
  })
  after(async () => {
    if (work) await rm(work, {recursive: true, force: true})
  })
  const sampleAgent = () => loadKit(join(sampleKitsDir, 'shell-agent'))
  const sampleMixins = () => Promise.all(['github', 'node'].map((k) => loadKit(join(sampleKitsDir, k))))

  const all = [...kitsIn(join(corpusDir, 'kits')), ...kitsIn(join(corpusDir, 'uncertain')), ...kitsIn(catalogDir)]
  it('the catalog snapshot is there (test/fixtures/catalog)', () => {
    assert.ok(kitsIn(catalogDir).length >= 25, `${catalogDir}: ${kitsIn(catalogDir).length} kits`)
  })
  for (const dir of kitsIn(catalogDir)) {
    it(`catalog/${dir.split('/').pop()} is valid`, async () => {
      const result = await validateKit(dir)
      assert.ok(result.valid, result.diagnostics.map(formatDiagnostic).join('\n'))
    })
  }
  for (const dir of all) {
    const label = dir.split('/').slice(-2).join('/')
    it(`${label}: builds, inspects as its source, composes`, async () => {
      const kit = await loadKit(dir)
      const built = await buildKit(dir, {store, tag: `corpus/${label.replace(/[^a-z0-9-]/g, '-')}:test`})
      const info = await inspectKit(store, built.reference)
      assert.equal(info.format, 'v2')
      assert.equal(info.digest, built.digest)
      assert.equal(info.schemaVersion, kit.schemaVersion)
      assert.deepEqual(info.spec, kit.spec)
      assert.equal(info.specText, kit.specBytes.toString('utf8'), 'the config is the spec as authored')
      assert.equal(info.annotations[Annotation.Name], kit.spec.name)
      assert.equal(info.annotations[Annotation.Kind], kit.spec.kind)
      assert.equal(info.annotations[Annotation.Title], kit.spec.displayName || kit.spec.name)
      assert.equal(info.annotations[Annotation.SchemaVersion], kit.schemaVersion === '1' ? '1' : undefined)
      if (kit.spec.version) assert.equal(info.annotations[Annotation.Version], kit.spec.version)
      assert.deepEqual(info.files.map((f) => [f.path, f.type, f.mode]), kit.files.map((f) => [f.path, f.type, f.mode]))
      if (kit.spec.kind === 'mixin') {
        if (kit.spec.requires?.agent && kit.spec.requires.agent !== 'shell-agent') {
          assert.throws(() => composeKitList([{spec: {...kit.spec}, files: kit.files}, {spec: {...kit.spec, kind: 'sandbox', name: 'x-agent', sandbox: {image: 'x'}}, files: []}]), /requires agent/)
          return
        }
        const agent = await sampleAgent()
        const {sandbox} = composeKitList([agent, kit].map((k) => ({spec: k.spec, files: k.files})))
        assert.deepEqual(sandbox.kits.map((k) => k.name), [agent.spec.name, kit.spec.name])
      } else {
        // The same credential service in two kits is a composition error (as in sbx): leave such a mixin out.
        const services = new Set((kit.spec.credentials ?? []).map((c) => c.service))
        const mixins = (await sampleMixins()).filter((m) => !(m.spec.credentials ?? []).some((c) => services.has(c.service)))
        const {sandbox} = composeKitList([kit, ...mixins].map((k) => ({spec: k.spec, files: k.files})))
        assert.equal(sandbox.agent.name, kit.spec.name)
      }
    })
  }
})

// Kits sbx's current decoder refuses (../shared/corpus/invalid: schema "2" with v1 keys such as
// caps: and commands:, which sbx's strict v2 decoder rejects as unknown fields): refused, located.
describe('corpus: what sbx refuses is refused, at file:line:col', () => {
  for (const dir of kitsIn(join(corpusDir, 'invalid'))) {
    it(`invalid/${dir.split('/').pop()} is refused with a located error`, async () => {
      const result = await validateKit(dir)
      assert.equal(result.valid, false)
      const errors = result.diagnostics.filter((d) => d.severity === 'error')
      assert.ok(errors.length > 0)
      for (const e of errors) {
        assert.ok(e.line !== undefined && e.column !== undefined, `not located: ${formatDiagnostic(e)}`)
        assert.match(formatDiagnostic(e), /spec\.yaml:\d+:\d+: /)
      }
    })
  }
  it('invalid/aws: caps: and commands: in a schema "2" file are unknown keys, with the v2 spelling named', async () => {
    const result = await validateKit(join(corpusDir, 'invalid', 'aws'))
    const messages = result.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}:${d.column} ${d.message}`)
    assert.ok(messages.some((m) => /^\d+:1 unknown key "caps" .*permissions/.test(m)), messages.join('\n'))
    assert.ok(messages.some((m) => /^\d+:1 unknown key "commands" .*setup/.test(m)), messages.join('\n'))
  })
})

// The classes of refusal issue 14 found in catalog kits, each on the kit it was found in.
describe('corpus: the classes sbx accepts that kit used to refuse', () => {
  it('claude: user "agent" / "root" in setup steps are user names (sbx does not restrict them)', async () => {
    const kit = await loadKit(join(corpusDir, 'kits', 'claude'))
    assert.ok(kit.spec.setup?.install?.some((s) => s.user === 'agent'))
    assert.ok(kit.spec.setup?.startup?.some((s) => s.user === 'root'))
  })
  it('devin: apiKey.name "" sets no environment variable', async () => {
    const kit = await loadKit(join(corpusDir, 'kits', 'devin'))
    assert.equal(kit.spec.credentials?.[0].apiKey?.name, '')
  })
  it('google-adk: v1 credentials as a list', async () => {
    const kit = await loadKit(join(corpusDir, 'kits', 'google-adk'))
    assert.equal(kit.schemaVersion, '1')
    assert.ok((kit.spec.credentials ?? []).length > 0)
  })
  it('dynatrace: NO_PROXY / no_proxy are warnings located at their keys (kit run drops them)', async () => {
    const result = await validateKit(join(corpusDir, 'kits', 'dynatrace'))
    assert.equal(result.valid, true)
    const proxy = result.diagnostics.filter((d) => d.code === 'proxy-env')
    assert.deepEqual(proxy.map((d) => `${d.line}:${d.column}`), ['43:5', '44:5'])
  })
})

describe('corpus: sbx conformance fixtures for kit arguments (tck/)', () => {
  const tck = join(corpusDir, 'tck')
  const supplied = (name: string): Record<string, string> => {
    const file = join(tck, name, 'testdata', 'tck.yaml')
    if (!existsSync(file)) return {}
    const args = (parse(readFileSync(file, 'utf8')) as {args?: Record<string, string>}).args ?? {}
    // tck.yaml values are supplied as scoped --kit-arg NAME.ARG=VALUE
    return Object.fromEntries(Object.entries(args).map(([k, v]) => [`${name}.${k}`, String(v)]))
  }

  it('args-install: valid; tck.yaml values are substituted into install commands and environment', async () => {
    assert.ok((await validateKit(join(tck, 'args-install'))).valid)
    const kit = await loadKit(join(tck, 'args-install'), {args: supplied('args-install')})
    assert.equal(kit.spec.setup?.install?.[0].command, 'test "supplied by tck.yaml" = "supplied by tck.yaml"')
    assert.equal(kit.spec.environment?.variables?.ARGS_FIXTURE_VERSION, '1.20')
    assert.equal(kit.spec.environment?.variables?.ARGS_FIXTURE_TOKEN, 'dummy-for-ci')
    assert.equal(kit.spec.setup?.install?.[1].command, 'grep -qx "version=1.20" /home/agent/.args-install/config.txt')
  })

  it('args-undeclared: rejected at validation', async () => {
    const result = await validateKit(join(tck, 'args-undeclared'))
    assert.equal(result.valid, false)
    assert.match(result.diagnostics[0].message, /kit\.args\.token .* does not declare/)
  })

  it('args-bad-value: valid kit; launching with channel: beta fails (not in the enum)', async () => {
    assert.ok((await validateKit(join(tck, 'args-bad-value'))).valid)
    await assert.rejects(loadKit(join(tck, 'args-bad-value'), {args: supplied('args-bad-value')}), /argument "channel": "beta" is not one of "stable", "nightly"/)
  })

  it('args-required-missing: valid kit; launching without token fails, not skips', async () => {
    assert.ok((await validateKit(join(tck, 'args-required-missing'))).valid)
    await assert.rejects(loadKit(join(tck, 'args-required-missing'), {args: {}}), /argument "token" is required/)
  })

  it('args-requires-agent: valid; the argument is substituted into requires.agent before it is checked', async () => {
    assert.ok((await validateKit(join(tck, 'args-requires-agent'))).valid)
    const kit = await loadKit(join(tck, 'args-requires-agent'), {args: {'args-requires-agent.agent': 'claude'}})
    assert.equal(kit.spec.requires?.agent, 'claude')
    const byDefault = await loadKit(join(tck, 'args-requires-agent'), {args: {}})
    assert.equal(byDefault.spec.requires?.agent, 'codex')
    await assert.rejects(loadKit(join(tck, 'args-requires-agent'), {args: {agent: 'Not A Name'}}), /is not one of "codex", "claude"/)
  })
})
