import assert from 'node:assert/strict'
import {
  canonicalPath,
  hostCoveredBy,
  matchDestination,
  matchRule,
  normalizeHost,
  NetworkRuleError,
  parseNetworkRule,
  pathGlobMatches,
} from '../../kit-compiler/network-rules.js'
import {seededRandom} from './random.js'

// Addresses in these tests are only parsed and matched, never connected to.

const allow = (t: string) => parseNetworkRule(t, 'allow')
const deny = (t: string) => parseNetworkRule(t, 'deny')
const m = (rule: string, host: string, port = 443, method?: string, path?: string) =>
  matchRule(allow(rule), {host, port, method, path})

describe('network rules: parsing', () => {
  it('canonicalises hosts: case, trailing dot, IDN', () => {
    assert.equal(allow('API.Example.COM.').text, 'api.example.com')
    assert.equal(allow('bücher.example').text, 'xn--bcher-kva.example')
    assert.equal(allow('*.Example.com').text, '*.example.com')
    assert.equal(allow('**.example.com:8443').text, '**.example.com:8443')
    assert.equal(allow('example.com:1-65535').text, 'example.com:*')
    assert.equal(allow('[0:0::1]:80').text, '[::1]:80')
    assert.equal(allow('::1/128').text, '[::1/128]')
    assert.equal(allow('GET,POST api.github.com/repos/**').text, 'GET,POST api.github.com/repos/**')
    assert.equal(allow('ANY x.com/a').text, 'x.com/a')
  })

  it('gives allow rules ports 80 and 443 by default, deny rules every port', () => {
    assert.deepEqual(allow('example.com').ports, [
      {from: 80, to: 80},
      {from: 443, to: 443},
    ])
    assert.equal(deny('example.com').ports, 'any')
    assert.equal(allow('example.com:*').ports, 'any')
    assert.equal(allow('**').ports.length, 2)
  })

  const bad: Array<[string, RegExp]> = [
    ['bedrock.*.amazonaws.com', /whole first label/],
    ['api*.example.com', /whole first label/],
    ['*', /use "\*\*"/],
    ['example.**', /whole first label/],
    ['example.com:0', /out of range/],
    ['example.com:65536', /out of range/],
    ['example.com:99999999', /bad port/],
    ['example.com:9000-8000', /backwards/],
    ['example.com:80,443', /bad port/],
    ['a..example.com', /empty label/],
    ['.example.com', /empty label/],
    ['', /empty/],
    ['   ', /empty/],
    ['-a.example.com', /starts or ends/],
    ['exa mple.com', /unknown method|one space/],
    ['get example.com', /unknown method/],
    ['GET,ANY example.com', /ANY cannot/],
    ['GET  POST example.com', /one space/],
    ['10.0.2.1/24', /host bits/],
    ['10.0.2.0/33', /over 32/],
    ['[::1/129]', /over 128/],
    ['127.1', /ends in a number/],
    ['0x7f.0.0.1', /ends in a number/],
    ['0177.0.0.1', /canonical dotted-quad|ends in a number/],
    ['a.com:1:80', /must be bracketed/],
    ['[example.com]:80', /IPv6/],
    ['example.com/a/../b', /segments/],
    ['example.com/a//b', /empty path segment/],
    ['example.com/a%2Fb', /percent/],
    ['example.com/a*b', /whole path segment/],
    ['example.com/a?x=1', /query/],
    ['exam\nple.com', /control/],
    ['a'.repeat(64) + '.com', /longer than 63/],
  ]
  for (const [text, re] of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(() => allow(text), (e: unknown) => e instanceof NetworkRuleError && re.test(e.message) && !e.message.includes('\n'))
    })
  }
})

describe('network rules: matching', () => {
  it('matches exact names on 80/443 only', () => {
    assert.ok(m('example.com', 'example.com', 443))
    assert.ok(m('example.com', 'EXAMPLE.com.', 80))
    assert.ok(!m('example.com', 'example.com', 8443))
    assert.ok(!m('example.com', 'a.example.com'))
    assert.ok(m('example.com:8443', 'example.com', 8443))
    assert.ok(!m('example.com:8443', 'example.com', 443))
    assert.ok(m('example.com:8000-9000', 'example.com', 8500))
    assert.ok(!m('example.com:8000-9000', 'example.com', 9001))
    assert.ok(m('example.com:*', 'example.com', 22))
  })

  it('matches one-label and any-depth wildcards, never the apex', () => {
    assert.ok(m('*.example.com', 'a.example.com'))
    assert.ok(!m('*.example.com', 'a.b.example.com'))
    assert.ok(!m('*.example.com', 'example.com'))
    assert.ok(!m('*.example.com', 'badexample.com'))
    assert.ok(m('**.example.com', 'a.b.c.example.com'))
    assert.ok(!m('**.example.com', 'example.com'))
    assert.ok(!m('**.example.com', 'x.badexample.com'))
  })

  it('lets ** cover names but not IP literals', () => {
    assert.ok(m('**', 'anything.example'))
    assert.ok(!m('**', '127.0.0.1'))
    assert.ok(!m('**', '2130706433'), 'a numeric host is an IPv4 address, not a name')
    assert.ok(!m('**', '[::1]'))
    assert.ok(m('127.0.0.0/8:*', '2130706433', 5))
  })

  it('matches CIDR and IP literals in any spelling', () => {
    assert.ok(m('127.0.0.0/8', '127.1.2.3'))
    assert.ok(m('127.0.0.0/8', '0x7f.1'))
    assert.ok(m('127.0.0.1', '127.0.0.1', 80))
    assert.ok(m('[::1]:80', '::1', 80))
    assert.ok(m('[::1]:80', '[0::1]', 80))
    assert.ok(!m('[::1]:80', '::1', 81))
    assert.ok(m('127.0.0.0/8', '::ffff:127.0.0.1'), 'IPv4-mapped IPv6 is its IPv4 address')
    assert.ok(m('0.0.0.0/0:*', '127.0.0.1', 1))
    assert.ok(!m('0.0.0.0/0:*', '::1', 1))
  })

  it('matches L7 rules only with a known method and canonical path', () => {
    const r = 'GET,HEAD api.github.com/repos/*/issues/**'
    assert.ok(m(r, 'api.github.com', 443, 'GET', '/repos/x/issues'))
    assert.ok(m(r, 'api.github.com', 443, 'HEAD', '/repos/x/issues/1/comments?per_page=1'))
    assert.ok(!m(r, 'api.github.com', 443, 'DELETE', '/repos/x/issues'))
    assert.ok(!m(r, 'api.github.com', 443))
    assert.ok(!m(r, 'api.github.com', 443, 'GET', '/repos/x/y/issues'))
    assert.ok(!m(r, 'api.github.com', 443, 'GET', '/repos//issues'))
    assert.ok(!m(r, 'api.github.com', 443, 'GET', '/repos/x/%2e%2e/issues'))
    assert.ok(m(r, 'api.github.com', 443, 'GET', '/repos/%78/issues'), '%78 is x, decoded')
    assert.ok(matchDestination(allow(r), 'api.github.com', 443))
  })

  it('canonicalises paths and refuses ambiguous ones', () => {
    assert.deepEqual(canonicalPath('/a/%7e%41b?q'), {ok: true, path: '/a/~Ab'})
    assert.deepEqual(canonicalPath('/a%2fb'), {ok: false, problem: 'encoded "/" in the path'})
    assert.equal(canonicalPath('/a/./b').ok, false)
    assert.equal(canonicalPath('/a\\b').ok, false)
    assert.equal(canonicalPath('a').ok, false)
    assert.equal(canonicalPath('/a/%zz').ok, false)
    assert.ok(pathGlobMatches('/**', '/'))
    assert.ok(pathGlobMatches('/a/**', '/a'))
    assert.ok(pathGlobMatches('/a/**/z', '/a/b/c/z'))
    assert.ok(!pathGlobMatches('/a/*', '/a/'))
  })

  it('normalises request hosts', () => {
    assert.deepEqual(normalizeHost('API.Example.com.'), {kind: 'name', name: 'api.example.com'})
    assert.equal((normalizeHost('0177.0.0.1') as {address: string}).address, '127.0.0.1')
    assert.throws(() => normalizeHost('a..b'))
    assert.throws(() => normalizeHost('a b'))
    assert.throws(() => normalizeHost('evil.com\r\nx'))
    assert.throws(() => normalizeHost('x@y.com'))
  })
})

describe('network rules: hostCoveredBy', () => {
  const cases: Array<[string, string, boolean]> = [
    ['api.openai.com', 'api.openai.com', true],
    ['*.openai.com', 'api.openai.com', true],
    ['**.openai.com', 'a.b.openai.com', true],
    ['**', 'api.openai.com', true],
    ['openai.com', 'api.openai.com', false],
    ['**.azure.com', '*.openai.azure.com', true],
    ['*.openai.azure.com', '*.openai.azure.com', true],
    ['openai.azure.com', '*.openai.azure.com', false],
    ['*.azure.com', '*.openai.azure.com', false],
    ['**.openai.azure.com', '*.openai.azure.com', true],
    ['*.openai.azure.com', '**.openai.azure.com', false],
    ['**.azure.com', '**.openai.azure.com', true],
    ['api.example.com:8443', 'api.example.com', false],
    ['api.example.com:8443', 'api.example.com:8443', true],
    ['api.example.com:*', 'api.example.com:8443', true],
    ['10.0.2.0/24', '10.0.2.15', true],
    ['10.0.2.0/24', '127.0.0.1', false],
    ['GET api.example.com/x', 'api.example.com', true],
  ]
  for (const [rule, host, want] of cases) {
    it(`${rule} ${want ? 'covers' : 'does not cover'} ${host}`, () => {
      assert.equal(hostCoveredBy(allow(rule), host), want)
    })
  }
})

describe('network rules: fuzz', () => {
  const alphabet = ['a', 'b', 'x', '-', '.', '*', '**', ':', '/', '[', ']', '0', '1', '9', '%', ' ', 'GET', ',', 'é', '\u0000', '_', '::', '443', '65536', '-', '?']

  it('never throws anything but NetworkRuleError and round-trips canonical text', () => {
    const rand = seededRandom(0x5eed)
    for (let i = 0; i < 20000; i++) {
      const n = 1 + Math.floor(rand() * 10)
      let s = ''
      for (let k = 0; k < n; k++) s += alphabet[Math.floor(rand() * alphabet.length)]
      let rule
      try {
        rule = allow(s)
      } catch (e) {
        assert.ok(e instanceof NetworkRuleError, `${JSON.stringify(s)} threw ${String(e)}`)
        continue
      }
      // The canonical text parses to the same rule.
      const again = allow(rule.text)
      assert.equal(again.text, rule.text, JSON.stringify(s))
      assert.deepEqual(again.ports, rule.ports)
    }
  })

  it('matches wildcard rules exactly like a reference implementation', () => {
    const rand = seededRandom(42)
    const labels = ['a', 'b', 'example', 'com', 'x-y', 'EXAMPLE', 'xn--bcher-kva']
    const name = () => {
      const n = 1 + Math.floor(rand() * 4)
      return Array.from({length: n}, () => labels[Math.floor(rand() * labels.length)]).join('.')
    }
    for (let i = 0; i < 5000; i++) {
      const suffix = name()
      const host = name() + (rand() < 0.2 ? '.' : '')
      const port = [80, 443, 8443, 1][Math.floor(rand() * 4)]!
      const kind = Math.floor(rand() * 3)
      const text = ['', '*.', '**.'][kind] + suffix
      const h = host.toLowerCase().replace(/\.$/, '')
      const s = suffix.toLowerCase()
      let want: boolean
      if (kind === 0) want = h === s
      else if (kind === 1) want = h.endsWith('.' + s) && !h.slice(0, -s.length - 1).includes('.')
      else want = h.endsWith('.' + s)
      want = want && (port === 80 || port === 443)
      assert.equal(matchRule(allow(text), {host, port}), want, `${text} vs ${host}:${port}`)
    }
  })

  it('never lets a deny rule miss what an equal allow rule matches', () => {
    const rand = seededRandom(7)
    const hosts = ['a.example.com', 'example.com', '127.0.0.1', '::1', '10.0.2.3', 'A.EXAMPLE.COM.', '0x7f.0.0.1', '2130706433']
    const rules = ['example.com', '*.example.com', '**.example.com', '127.0.0.0/8', '[::1]', '10.0.2.0/24', '**']
    for (let i = 0; i < 2000; i++) {
      const r = rules[Math.floor(rand() * rules.length)]!
      const h = hosts[Math.floor(rand() * hosts.length)]!
      const port = Math.floor(rand() * 65536) + 1
      if (matchRule(allow(r), {host: h, port})) assert.ok(matchRule(deny(r), {host: h, port}), `${r} ${h}:${port}`)
    }
  })
})
