import assert from 'node:assert/strict'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {checkUrl, effectivePolicy} from '../../runtime/policy/effective.js'
import {policyFromKit} from '../../runtime/policy/from-kit.js'
import {addLocalRule, initLocalPolicy, readLocalPolicy, removeLocalRule} from '../../runtime/policy/local-policy.js'
import {Policy, PolicyRuleError} from '../../runtime/policy/policy.js'
import {BALANCED, tierRules} from '../../runtime/policy/tiers.js'
import {bigIntToIp, ipToBigInt, parseNetworkRule} from '../../kit-compiler/network-rules.js'
import {SPECIAL_RANGES} from '../../runtime/policy/special-addresses.js'
import {removeDir, tempDir} from '../proxy/fixtures.js'

describe('policy engine', () => {
  it('denies by default and names no rule', () => {
    const d = new Policy().evaluate({host: 'example.com', port: 443})
    assert.equal(d.action, 'deny')
    assert.equal(d.rule, undefined)
    assert.match(d.reason, /no rule allows example\.com port 443/)
  })

  it('lets deny win over any allow, whatever the source', () => {
    const p = new Policy({tier: 'allow-all', layers: [{source: 'local', allow: ['x.example.com'], deny: ['**.example.com']}]})
    const d = p.evaluate({host: 'x.example.com', port: 443})
    assert.deepEqual([d.action, d.rule, d.source], ['deny', '**.example.com', 'local'])
    assert.equal(p.evaluate({host: 'other.test', port: 443}).action, 'allow')
  })

  it('names the deciding rule and its source (specific sources before the tier)', () => {
    const p = new Policy({tier: 'balanced', layers: [{source: 'kit claude', allow: ['api.anthropic.com']}]})
    const d = p.evaluate({host: 'api.anthropic.com', port: 443})
    assert.deepEqual([d.action, d.rule, d.source], ['allow', 'api.anthropic.com', 'kit claude'])
    const t = p.evaluate({host: 'registry.npmjs.org', port: 443})
    assert.deepEqual([t.action, t.source], ['allow', 'tier balanced'])
  })

  it('has tiers as presets: allow-all is ** on 80/443, deny-all is nothing', () => {
    assert.deepEqual(tierRules('allow-all'), ['**'])
    assert.deepEqual(tierRules('deny-all'), [])
    const all = new Policy({tier: 'allow-all'})
    assert.equal(all.evaluate({host: 'anything.test', port: 443}).action, 'allow')
    assert.equal(all.evaluate({host: 'anything.test', port: 22}).action, 'deny')
    assert.equal(all.evaluate({host: '127.0.0.1', port: 443}).action, 'deny')
    for (const rules of Object.values(BALANCED)) for (const r of rules) assert.equal(parseNetworkRule(r).text, r, 'balanced rules are canonical')
  })

  it('keeps kit and local rules inside the org ceiling, and org denies above everything', () => {
    const p = new Policy({
      tier: 'allow-all',
      layers: [{source: 'kit k', allow: ['evil.test', 'api.github.com:*']}],
      org: {deny: ['**.tracker.test'], allowCeiling: ['*.github.com', 'api.github.com', 'GET raw.example.com/public/**']},
    })
    assert.equal(p.evaluate({host: 'evil.test', port: 443}).rule, 'org-ceiling')
    assert.equal(p.evaluate({host: 'api.github.com', port: 443}).action, 'allow')
    assert.equal(p.evaluate({host: 'a.tracker.test', port: 443}).source, 'org')
    // The ceiling is L7 for raw.example.com: the CONNECT is intercepted, then each request judged.
    const c = p.evaluate({host: 'raw.example.com', port: 443})
    assert.equal(c.action, 'allow')
    assert.ok(c.intercept)
    assert.equal(p.evaluate({host: 'raw.example.com', port: 443, method: 'GET', path: '/public/x'}).action, 'allow')
    assert.equal(p.evaluate({host: 'raw.example.com', port: 443, method: 'POST', path: '/public/x'}).rule, 'org-ceiling')
    assert.deepEqual(
      p.rules().map((r) => [r.effect, r.source]).slice(0, 2),
      [
        ['deny', 'org'],
        ['ceiling', 'org ceiling'],
      ],
    )
  })

  it('judges a CONNECT by destination and asks for interception when L7 rules apply', () => {
    const p = new Policy({layers: [{source: 'local', allow: ['GET api.github.com/repos/**', 'plain.test'], deny: ['DELETE plain.test/**']}]})
    const c = p.evaluate({host: 'api.github.com', port: 443})
    assert.deepEqual([c.action, c.intercept], ['allow', true])
    const d = p.evaluate({host: 'plain.test', port: 443})
    assert.deepEqual([d.action, d.intercept], ['allow', true], 'an L7 deny makes the proxy look inside')
    assert.equal(p.evaluate({host: 'plain.test', port: 443, method: 'DELETE', path: '/x'}).action, 'deny')
    assert.equal(p.evaluate({host: 'plain.test', port: 443, method: 'GET', path: '/x'}).action, 'allow')
    assert.equal(p.evaluate({host: 'api.github.com', port: 443, method: 'GET', path: '/repos/../admin'}).rule, 'non-canonical-path')
    assert.equal(p.evaluate({host: 'other.test', port: 443}).intercept, false)
  })

  it('checks resolved addresses: special ranges need a CIDR rule inside them, CIDR denies apply', () => {
    // Addresses here are only matched, never connected to: the first address of each special range
    // (from the module's own table), and a public one made by stepping out of 10/8.
    const first = (r: (typeof SPECIAL_RANGES)[number]) => bigIntToIp(r.pattern.network + (r.pattern.prefix < (r.pattern.family === 4 ? 32 : 128) ? 1n : 0n), r.pattern.family)
    const guest = '10.0.2.15'
    const publicAddr = bigIntToIp(ipToBigInt(guest) + (1n << 24n), 4)
    const everything = new Policy({layers: [{source: 'local', allow: ['**', '0.0.0.0/0:*', '[::/0]:*']}]})
    for (const r of SPECIAL_RANGES) {
      assert.equal(everything.checkResolvedAddress(first(r), 443)?.rule, 'destination-ip-prohibited', `${r.cidr} (${r.label}) is not named by /0`)
    }
    assert.equal(everything.checkResolvedAddress(publicAddr, 443), undefined)
    const metadata = SPECIAL_RANGES.find((r) => r.label === 'metadata')!
    assert.equal(everything.checkResolvedAddress(`::ffff:${first(metadata)}`, 80)?.rule, 'destination-ip-prohibited', 'IPv4-mapped IPv6 is its IPv4 address')
    const p = new Policy({layers: [{source: 'local', allow: ['10.0.2.0/24:*', '0.0.0.0/0:*'], deny: [`${bigIntToIp((ipToBigInt(publicAddr) >> 8n) << 8n, 4)}/24`]}]})
    assert.equal(p.checkResolvedAddress(guest, 5432), undefined, 'a CIDR rule inside 10/8 unlocks it')
    assert.equal(p.checkResolvedAddress(bigIntToIp(ipToBigInt(guest) + 256n, 4), 443)?.action, 'deny', 'only the part it names')
    assert.equal(p.checkResolvedAddress(publicAddr, 443)?.source, 'local', 'CIDR denies apply to resolved addresses')
    const linkLocal = SPECIAL_RANGES.find((r) => r.label === 'link-local' && r.pattern.family === 4)!
    const link = new Policy({layers: [{source: 'local', allow: [`${linkLocal.cidr}:*`]}]})
    assert.ok(link.checkResolvedAddress(first(metadata), 80), 'metadata needs a rule naming it, not link-local at large')
    assert.equal(link.checkResolvedAddress(first(linkLocal), 80), undefined)
  })

  it('refuses rules it cannot enforce, naming the layer', () => {
    assert.throws(() => new Policy({layers: [{source: 'kit k', allow: ['bedrock.*.amazonaws.com']}]}), (e: unknown) => e instanceof PolicyRuleError && /^kit k: invalid network rule/.test(e.message))
  })

  it('denies hosts that do not normalise and ports out of range', () => {
    const p = new Policy({tier: 'allow-all'})
    assert.equal(p.evaluate({host: 'a..b', port: 443}).action, 'deny')
    assert.equal(p.evaluate({host: 'x.test', port: 0}).action, 'deny')
    assert.equal(p.evaluate({host: 'x.test', port: 65536}).action, 'deny')
  })
})

describe('policy: kits, local state, check', () => {
  let home: string
  const env = () => ({KIT_HOME: home, KIT_ORG_POLICY: join(home, 'org-policy.json')})
  beforeEach(() => {
    home = tempDir('kit-policy-')
  })
  afterEach(() => removeDir(home))

  it('reads a kit into a layer and its credentials', () => {
    const k = policyFromKit({
      name: 'github-mixin',
      permissions: {network: {allow: ['*.github.com'], deny: ['gist.github.com']}},
      credentials: [
        {service: 'github', apiKey: {name: 'GITHUB_TOKEN', inject: [{domain: 'api.github.com', scheme: 'bearer'}]}},
        {service: 'oauth-only'},
      ],
    })
    assert.deepEqual(k.layer, {source: 'kit github-mixin', allow: ['*.github.com'], deny: ['gist.github.com']})
    assert.deepEqual(k.credentials, [{service: 'github', envName: 'GITHUB_TOKEN', inject: [{domain: 'api.github.com', scheme: 'bearer'}], kit: 'github-mixin'}])
  })

  it('keeps the local tier and rules in KIT_HOME/policy.json, canonical and once', async () => {
    assert.equal((await readLocalPolicy(env())).tier, 'deny-all')
    await initLocalPolicy('balanced', env())
    assert.equal(await addLocalRule('allow', 'API.Example.com.:8443', env()), 'api.example.com:8443')
    await addLocalRule('allow', 'api.example.com:8443', env())
    await addLocalRule('deny', '**.tracker.example', env())
    const p = JSON.parse(readFileSync(join(home, 'policy.json'), 'utf8'))
    assert.deepEqual(p, {version: 1, tier: 'balanced', allow: ['api.example.com:8443'], deny: ['**.tracker.example']})
    assert.equal(await removeLocalRule('allow', 'api.example.com:8443', env()), true)
    await assert.rejects(addLocalRule('allow', 'a.*.b', env()), /whole first label/)
  })

  it('assembles org, flags, local and kits, and answers kit policy check', async () => {
    await initLocalPolicy('deny-all', env())
    await addLocalRule('allow', 'api.github.com', env())
    mkdirSync(home, {recursive: true})
    writeFileSync(join(home, 'org-policy.json'), JSON.stringify({deny: ['DELETE api.github.com/**']}))
    const kit = policyFromKit({name: 'k', permissions: {network: {allow: ['registry.npmjs.org']}}})
    const p = await effectivePolicy({env: env(), kits: [kit], allow: ['flag.test']})
    assert.deepEqual(checkUrl(p, 'https://api.github.com/repos/x', 'delete'), {
      url: 'https://api.github.com/repos/x',
      method: 'DELETE',
      host: 'api.github.com',
      port: 443,
      path: '/repos/x',
      action: 'deny',
      rule: 'DELETE api.github.com/**',
      source: 'org',
      reason: 'a deny rule matches',
    })
    assert.equal(checkUrl(p, 'https://api.github.com/repos/x').source, 'local')
    assert.equal(checkUrl(p, 'https://registry.npmjs.org/x').source, 'kit k')
    assert.equal(checkUrl(p, 'http://flag.test/').source, 'flag')
    assert.equal(checkUrl(p, 'http://flag.test:8080/').action, 'deny')
    assert.throws(() => checkUrl(p, 'ftp://x.test/'), /scheme/)
  })
})

describe('policy: the audit log reader', () => {
  it('reads entries, then follows new ones until aborted', async () => {
    const {readAuditLog, formatAuditEntry} = await import('../../runtime/policy/commands.js')
    const {AuditLog} = await import('../../runtime/proxy/audit.js')
    const dir = tempDir('kit-auditlog-')
    try {
      const file = join(dir, 'logs', 'policy.jsonl')
      const log = new AuditLog(file, 'sbx')
      const entry = {kind: 'request' as const, method: 'GET', host: 'a.test', port: 443, path: '/p?q=secret', decision: 'allow' as const, rule: 'a.test', status: 200, bytesUp: 1, bytesDown: 2, durationMs: 3}
      log.write(entry)
      await new Promise((r) => setTimeout(r, 50))
      const seen: string[] = []
      const ac = new AbortController()
      const following = readAuditLog({file, follow: true, signal: ac.signal, onEntry: (e) => seen.push(formatAuditEntry(e))})
      await new Promise((r) => setTimeout(r, 100))
      log.write({...entry, path: '/second'})
      const end = Date.now() + 5000
      while (seen.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
      ac.abort()
      await following
      await log.close()
      assert.equal(seen.length, 2)
      assert.match(seen[0]!, /ALLOW GET a\.test:443\/p 200 rule=a\.test up=1 down=2 3ms sandbox=sbx$/)
      assert.ok(!readFileSync(file, 'utf8').includes('secret'), 'no query strings in the log')
      assert.equal((await readAuditLog({file, tail: 1}))[0]!.path, '/second')
    } finally {
      removeDir(dir)
    }
  })
})
