import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import {mkfifoSync} from './fifo.js'
import {validateKit, loadKit} from '../../kit-compiler/load.js'
import {formatDiagnostic, KitValidationError} from '../../kit-compiler/diagnostics.js'
import {cleanupKits, makeKit, mixin, sandbox} from '../support/kit-dir.js'

interface Case {
  title: string
  spec: string
  files?: Record<string, string>
  /** line:col and a fragment of the message of the first error. */
  at?: string
  message: RegExp
  specName?: string
}

// Each rule has a case that asserts the message and where it points.
const invalid: Case[] = [
  {title: 'malformed YAML', spec: 'schemaVersion: "2"\nkind: [mixin\nname: x\n', at: '3', message: /./},
  {title: 'tab indentation', spec: 'schemaVersion: "2"\nkind: mixin\nname: x\nenvironment:\n\tvariables: {}\n', at: '5:1', message: /tab/},
  {title: 'duplicate key', spec: 'schemaVersion: "2"\nkind: mixin\nname: x\nname: y\n', at: '4:1', message: /duplicate key/},
  {title: 'not a mapping', spec: '- a\n- b\n', at: '1:1', message: /must be a YAML mapping/},
  {title: 'missing schemaVersion', spec: 'kind: mixin\nname: x\n', message: /missing required key "schemaVersion"/},
  {title: 'unsupported schemaVersion', spec: 'schemaVersion: "3"\nkind: mixin\nname: x\n', at: '1:16', message: /unsupported schemaVersion "3"/},
  {title: 'unknown top-level key', spec: mixin('colour: blue\n'), at: '4:1', message: /unknown key "colour"/},
  {title: 'unknown nested key', spec: mixin('permissions:\n  network:\n    allow: [a.example]\n    alow: [b.example]\n'), at: '7:5', message: /unknown key "alow" in permissions\.network/},
  {title: 'v1 field in a v2 file', spec: mixin('network:\n  allowedDomains: [a.example]\n'), at: '4:1', message: /unknown key "network".*schema v1 field.*permissions\.network/},
  {title: 'v2 field in a v1 file', spec: 'schemaVersion: "1"\nkind: mixin\nname: x\npermissions: {}\n', at: '4:1', message: /unknown key "permissions".*schema v2 field/},
  {title: 'kit args in a v1 file', spec: 'schemaVersion: "1"\nkind: mixin\nname: x\nargs: {}\n', at: '4:1', message: /unknown key "args"/},
  {title: 'upper-case name', spec: 'schemaVersion: "2"\nkind: mixin\nname: MyKit\n', at: '3:7', message: /name "MyKit" is invalid: use 1-64 lower-case/},
  {title: 'name with a trailing hyphen', spec: 'schemaVersion: "2"\nkind: mixin\nname: kit-\n', at: '3:7', message: /name "kit-" is invalid/},
  {title: 'bad kind', spec: 'schemaVersion: "2"\nkind: plugin\nname: x\n', at: '2:7', message: /kind must be one of: "sandbox", "mixin", "agent"/},
  {title: 'missing name', spec: 'schemaVersion: "2"\nkind: mixin\n', message: /missing required key "name"/},
  {title: 'wrong type', spec: mixin('permissions:\n  network:\n    allow: api.example.com\n'), at: '6:12', message: /permissions\.network\.allow must be a list/},
  {title: 'sandbox block on a mixin', spec: mixin('sandbox:\n  image: x\n'), at: '4:1', message: /"sandbox" is only valid for kind "sandbox"/},
  {title: 'extends on a mixin', spec: mixin('extends: base\n'), at: '4:1', message: /kind "mixin" must not set extends/},
  {title: 'sandbox kit without image', spec: 'schemaVersion: "2"\nkind: sandbox\nname: x\n', at: '2:7', message: /needs sandbox\.image/},
  {title: 'requires on a sandbox kit', spec: sandbox('requires:\n  agent: claude\n'), at: '8:3', message: /requires\.agent is only valid for kind "mixin"/},
  {title: 'undeclared argument', spec: mixin('environment:\n  variables:\n    A: "${{ kit.args.token }}"\n'), at: '6:8', message: /references \$\{\{ kit\.args\.token \}\}, which spec\.yaml does not declare/},
  {title: 'argument in a mapping key', spec: mixin('args:\n  k: {default: a}\nenvironment:\n  variables:\n    "${{ kit.args.k }}": x\n'), at: '8:5', message: /mapping key .* references an argument/},
  {title: 'argument with default and required', spec: mixin('args:\n  a: {default: x, required: true}\n'), at: '5:3', message: /exactly one of default or required/},
  {title: 'argument with neither default nor required', spec: mixin('args:\n  a: {description: d}\n'), at: '5:3', message: /exactly one of default or required/},
  {title: 'argument with enum and pattern', spec: mixin('args:\n  a: {default: x, enum: [x], pattern: "x"}\n'), at: '5:3', message: /both enum and pattern/},
  {title: 'argument default outside its enum', spec: mixin('args:\n  a: {default: z, enum: [x, y]}\n'), at: '5:3', message: /default of argument "a": "z" is not one of "x", "y"/},
  {title: 'argument pattern that does not compile', spec: mixin('args:\n  a: {required: true, pattern: "(["}\n'), at: '5:3', message: /pattern is not a valid regular expression/},
  {title: 'argument with a bad name', spec: mixin('args:\n  1a: {default: x}\n'), message: /argument name "1a" is invalid/},
  {title: 'undeclared argument in files/', spec: mixin(''), files: {'files/home/.cfg': 'a\nb=${{ kit.args.nope }}\n'}, at: '2:3', message: /references \$\{\{ kit\.args\.nope \}\}/},
  {title: 'network rule with a middle wildcard', spec: mixin('permissions:\n  network:\n    allow: ["bedrock.*.amazonaws.com"]\n'), at: '6:13', message: /permissions\.network\.allow\[0\]: invalid network rule/},
  {title: 'network rule with port 0', spec: mixin('permissions:\n  network:\n    deny: ["a.example:0"]\n'), at: '6:12', message: /permissions\.network\.deny\[0\]: invalid network rule "a\.example:0"/},
  {title: 'network rule with a port over 65535', spec: mixin('permissions:\n  network:\n    allow: ["a.example:70000"]\n'), at: '6:13', message: /invalid network rule/},
  {title: 'credential service declared twice', spec: mixin('permissions: {network: {allow: [a.example]}}\ncredentials:\n  - service: s\n    apiKey: {name: A, inject: [{domain: a.example, scheme: bearer}]}\n  - service: s\n    apiKey: {name: B}\n'), at: '8:14', message: /credential service "s" is declared twice/},
  {title: 'inject format without %s', spec: mixin('permissions: {network: {allow: [a.example]}}\ncredentials:\n  - service: s\n    apiKey: {name: A, inject: [{domain: a.example, header: X-Key, format: "Token"}]}\n'), message: /format "Token" must contain exactly one %s/},
  {title: 'inject scheme with format', spec: mixin('permissions: {network: {allow: [a.example]}}\ncredentials:\n  - service: s\n    apiKey: {name: A, inject: [{domain: a.example, scheme: bearer, format: "%s"}]}\n'), message: /'scheme' and 'format' are mutually exclusive/},
  {title: 'basic scheme without username', spec: mixin('permissions: {network: {allow: [a.example]}}\ncredentials:\n  - service: s\n    apiKey: {name: A, inject: [{domain: a.example, scheme: basic}]}\n'), message: /scheme basic requires a username/},
  {title: 'unknown inject scheme', spec: mixin('credentials:\n  - service: s\n    apiKey: {name: A, inject: [{domain: a.example, scheme: digest}]}\n'), message: /scheme must be one of: "bearer", "basic"/},
  {title: 'reserved environment variable', spec: mixin('environment:\n  variables:\n    LD_PRELOAD: x\n'), at: '6:5', message: /LD_PRELOAD is set by the sandbox/},
  {title: 'reserved environment prefix', spec: mixin('environment:\n  variables:\n    SBX_MODE: x\n'), at: '6:5', message: /prefix SBX_ is reserved/},
  {title: 'invalid environment name', spec: mixin('environment:\n  variables:\n    1BAD: x\n'), message: /environment variable name "1BAD" is invalid/},
  {title: 'setup file path escaping with ..', spec: mixin('setup:\n  files:\n    - {path: "/home/agent/../../etc/passwd", content: x}\n'), message: /must not contain "\.\." segments/},
  {title: 'relative setup file path', spec: mixin('setup:\n  files:\n    - {path: "notes.txt", content: x}\n'), message: /must be an absolute path/},
  {title: 'bad file mode', spec: mixin('setup:\n  files:\n    - {path: /x, content: x, mode: "999"}\n'), message: /mode "999" must be an octal file mode/},
  // As sbx's ValidateOAuth (spec/validate.go).
  {title: 'oauth without a token endpoint', spec: mixin('credentials:\n  - service: s\n    oauth: {sentinels: {accessToken: a, refreshToken: b}}\n'), at: '6:12', message: /oauth: tokenEndpoint\.host is required/},
  {title: 'oauth without sentinels', spec: mixin('credentials:\n  - service: s\n    oauth: {tokenEndpoint: {host: h.example, path: /t}}\n'), message: /sentinels\.accessToken is required/},
  {title: 'v1 top-level oauth without service', spec: 'schemaVersion: "1"\nkind: mixin\nname: x\noauth: {tokenEndpoint: {host: h, path: /t}}\n', at: '4:1', message: /missing required key "service" in oauth/},
  {title: 'v1 credentials of a third shape', spec: 'schemaVersion: "1"\nkind: mixin\nname: x\ncredentials: token\n', at: '4:14', message: /credentials must be a mapping/},
  {title: 'v1 initFiles mode not octal', spec: 'schemaVersion: "1"\nkind: mixin\nname: x\ncommands:\n  initFiles:\n    - {path: /x, content: y, mode: "999"}\n', message: /mode "999" must be an octal file mode/},
  {title: 'startup command as a string', spec: mixin('setup:\n  startup:\n    - {command: "echo hi"}\n'), message: /setup\.startup\[0\]\.command must be a list/},
  {title: 'port out of range', spec: mixin('ports:\n  - {container: 0}\n'), message: /ports\[0\]\.container must be >= 1/},
  {title: 'bad memory size', spec: sandbox('  resources: {memory: lots}\n'), message: /sandbox\.resources\.memory "lots" does not match/},
  {title: 'bad sandbox.command shape', spec: sandbox('  command: run\n'), message: /sandbox\.command has the wrong shape/},
  {title: 'locked path with upper case', spec: mixin('locked: [Environment]\n'), message: /locked\[0\] "Environment" is not a dotted field path/},
  {title: 'duplicate license', spec: mixin('licenses: [MIT, MIT]\n'), message: /licenses has duplicate items/},
  {title: 'spec larger than 1 MiB', spec: mixin('description: "' + 'x'.repeat(1024 * 1024) + '"\n'), message: /the limit is 1048576 bytes/},
]

describe('kit validate: every rule rejects with its message and location', () => {
  after(cleanupKits)
  for (const c of invalid) {
    it(c.title, async () => {
      const dir = makeKit(c.spec, c.files ?? {}, c.specName)
      const result = await validateKit(dir)
      assert.equal(result.valid, false, `expected invalid: ${JSON.stringify(result.diagnostics)}`)
      const errors = result.diagnostics.filter((d) => d.severity === 'error')
      const hit = errors.find((d) => c.message.test(d.message))
      assert.ok(hit, `no error matching ${c.message}; got ${errors.map(formatDiagnostic).join(' | ')}`)
      assert.ok(hit.file.length > 0)
      if (c.at) {
        const [line, column] = c.at.split(':').map(Number)
        assert.equal(hit.line, line, `line of: ${formatDiagnostic(hit)}`)
        if (column !== undefined) assert.equal(hit.column, column, `column of: ${formatDiagnostic(hit)}`)
      }
    })
  }

  it('loadKit throws a KitValidationError whose one-line message names file:line:col', async () => {
    const dir = makeKit(mixin('colour: blue\n'))
    await assert.rejects(loadKit(dir), (error: unknown) => {
      assert.ok(error instanceof KitValidationError)
      assert.match(error.message, /spec\.yaml:4:1: unknown key "colour"/)
      assert.doesNotMatch(error.message, /\n/)
      return true
    })
  })

  it('a spec that is not UTF-8 is refused', async () => {
    const dir = makeKit('')
    writeFileSync(`${dir}/spec.yaml`, Buffer.concat([Buffer.from('schemaVersion: "2"\nkind: mixin\nname: x\ndescription: "'), Buffer.from([0xff, 0xfe]), Buffer.from('"\n')]))
    const result = await validateKit(dir)
    assert.equal(result.valid, false)
    assert.match(result.diagnostics[0].message, /not valid UTF-8/)
  })

  it('a directory without spec.yaml is not a kit', async () => {
    const dir = makeKit('x: 1\n', {}, 'other.yaml')
    const result = await validateKit(dir)
    assert.equal(result.valid, false)
    assert.match(result.diagnostics[0].message, /no spec\.yaml/)
  })

  it('a FIFO in files/ is an error naming it (and validation does not hang on it)', async function () {
    const dir = makeKit(mixin(''), {'files/home/.keep': 'x\n'})
    if (!mkfifoSync(`${dir}/files/home/pipe`)) this.skip()
    const result = await validateKit(dir)
    assert.equal(result.valid, false)
    assert.ok(result.diagnostics.some((d) => d.severity === 'error' && /pipe/.test(d.file + d.message)))
  })
})

describe('kit validate: what sbx accepts is accepted', () => {
  after(cleanupKits)
  it('spec.yml is read when there is no spec.yaml', async () => {
    const result = await validateKit(makeKit(mixin(''), {}, 'spec.yml'))
    assert.equal(result.valid, true)
  })
  it('unquoted scalars in string fields keep their text, as Go yaml.v3 reads them', async () => {
    const kit = await loadKit(makeKit(mixin('version: 1.20\nenvironment:\n  variables:\n    IS_SANDBOX: 1\nsetup:\n  files:\n    - {path: /x, content: hi, mode: 0644, onlyIfMissing: yes}\n')))
    assert.equal(kit.spec.version, '1.20')
    assert.equal(kit.spec.environment?.variables?.IS_SANDBOX, '1')
    assert.equal(kit.spec.setup?.files?.[0].mode, '0644')
    assert.equal(kit.spec.setup?.files?.[0].onlyIfMissing, true)
    assert.ok(kit.warnings.some((w) => /not a semver version/.test(w.message)), 'a non-semver version is a warning')
  })
  it('kind: agent is read as sandbox (the original Agent Kit vocabulary)', async () => {
    const kit = await loadKit(makeKit(sandbox('').replace('kind: sandbox', 'kind: agent')))
    assert.equal(kit.spec.kind, 'sandbox')
  })
  it('an unquoted schemaVersion is read with a warning', async () => {
    const kit = await loadKit(makeKit(mixin('').replace('"2"', '2')))
    assert.ok(kit.warnings.some((w) => /schemaVersion should be a string/.test(w.message)))
  })
  it('scheme bearer with an explicit header is accepted (sbx keeps the header)', async () => {
    const kit = await loadKit(makeKit(mixin('permissions: {network: {allow: [a.example]}}\ncredentials:\n  - service: s\n    apiKey: {name: A, inject: [{domain: a.example, scheme: bearer, header: X-Auth}]}\n')))
    assert.equal(kit.spec.credentials?.[0].apiKey?.inject?.[0].header, 'X-Auth')
  })
  it('a mixin\'s agentInstructions.filename is ignored with a warning', async () => {
    const kit = await loadKit(makeKit(mixin('agentInstructions: {filename: X.md, content: hi}\n')))
    assert.ok(kit.warnings.some((w) => /only used by a sandbox kit/.test(w.message)))
  })

  it('a setup step may run as a user name (sbx does not restrict it: the image\'s users decide)', async () => {
    const kit = await loadKit(makeKit(mixin('setup:\n  install:\n    - {command: "true", user: root}\n    - {command: "true", user: agent}\n  startup:\n    - {command: ["true"], user: "1000"}\n')))
    assert.deepEqual(kit.spec.setup?.install?.map((s) => s.user), ['root', 'agent'])
    assert.equal(kit.warnings.length, 0)
  })
  it('apiKey.name may be empty: no environment variable is set, the proxy still injects', async () => {
    const kit = await loadKit(makeKit(mixin('permissions: {network: {allow: [a.example]}}\ncredentials:\n  - service: s\n    apiKey: {name: "", inject: [{domain: a.example, scheme: bearer}]}\n')))
    assert.equal(kit.spec.credentials?.[0].apiKey?.name, '')
  })
  it('proxy variables in environment.variables are a warning (kit run drops them, as sbx refuses them at launch)', async () => {
    const result = await validateKit(makeKit(mixin('environment:\n  variables:\n    NO_PROXY: localhost\n    all_proxy: socks5://x\n    KEEP: 1\n')))
    assert.equal(result.valid, true)
    const warnings = result.diagnostics.filter((d) => d.code === 'proxy-env')
    assert.deepEqual(warnings.map((w) => [w.line, w.column]), [[6, 5], [7, 5]])
    assert.match(warnings[0].message, /NO_PROXY .* kit run drops it/)
  })
  it('a v1 mixin may set extends (sbx\'s no-extends rule is schema v2 only): ignored with a warning', async () => {
    const kit = await loadKit(makeKit('schemaVersion: "1"\nkind: mixin\nname: x\nextends: base\n'))
    assert.equal(kit.spec.extends, undefined)
    assert.ok(kit.warnings.some((w) => /extends on a mixin is ignored/.test(w.message) && w.line === 4))
  })
  it('v1 credentials as a list of v2 entries (sbx\'s v1 decoder reads both shapes)', async () => {
    const kit = await loadKit(makeKit('schemaVersion: "1"\nkind: mixin\nname: x\nnetwork:\n  allowedDomains: [api.example]\ncredentials:\n  - service: ex\n    apiKey: {name: EX_KEY, proxyManaged: true, inject: [{domain: api.example, header: X-Key, format: "%s"}]}\n'))
    assert.deepEqual(kit.spec.credentials, [{service: 'ex', apiKey: {name: 'EX_KEY', proxyManaged: true, inject: [{domain: 'api.example', header: 'X-Key', format: '%s'}]}}])
  })
  it('v1 credentials.sources, serviceDomains/serviceAuth and environment.proxyManaged fold as sbx folds them', async () => {
    const kit = await loadKit(makeKit([
      'schemaVersion: "1"', 'kind: mixin', 'name: x',
      'network:', '  serviceDomains: {b.example: beta, a.example: alpha, r.example: routed}', '  serviceAuth: {alpha: {headerName: X-A, valueFormat: "%s"}}',
      'credentials:', '  sources:', '    alpha: {env: [ALPHA_KEY], required: true}', '    gamma: {file: {path: ~/.gamma}}',
      'environment:', '  proxyManaged: [ALPHA_KEY, DELTA_API_KEY]', '',
    ].join('\n')))
    assert.deepEqual(kit.spec.credentials, [
      {service: 'alpha', required: true, apiKey: {name: 'ALPHA_KEY', proxyManaged: true, inject: [{domain: 'a.example', header: 'X-A', format: '%s'}]}},
      {service: 'beta', apiKey: {name: '', inject: []}},
      {service: 'delta', apiKey: {name: 'DELTA_API_KEY', proxyManaged: true, inject: []}},
      {service: 'gamma'},
      {service: 'routed', apiKey: {name: '', inject: []}},
    ])
    assert.ok(kit.warnings.some((w) => /service beta has no network\.serviceAuth entry, so nothing is injected/.test(w.message)))
    assert.deepEqual(kit.spec.permissions?.network?.allow, ['a.example', 'b.example', 'r.example'])
    assert.ok(kit.warnings.some((w) => /environment\.proxyManaged is deprecated/.test(w.message)))
  })
  it('a v1 top-level oauth: joins its service\'s credential, its routing domains become resourceHosts (as sbx)', async () => {
    const kit = await loadKit(makeKit([
      'schemaVersion: "1"', 'kind: mixin', 'name: x',
      'network:', '  serviceDomains: {api.g.example: google, oauth2.g.example: google}',
      'oauth:', '  service: google', '  tokenEndpoint: {host: oauth2.g.example, path: /token}', '  sentinels: {accessToken: sbx-a, refreshToken: sbx-r}', '',
    ].join('\n')))
    assert.deepEqual(kit.spec.credentials, [{service: 'google', oauth: {
      tokenEndpoint: {host: 'oauth2.g.example', path: '/token'}, sentinels: {accessToken: 'sbx-a', refreshToken: 'sbx-r'}, resourceHosts: ['api.g.example'],
    }}])
    assert.ok(kit.warnings.some((w) => /top-level oauth: block is deprecated/.test(w.message) && w.line === 6))
  })
})
