// The docker driver's pure parts: the bridge firewall rules and the forwarder's subnet check.
import assert from 'node:assert/strict'
import {inSubnet} from '../../runtime/docker/driver.js'
import {bridgeRules, ruleComment} from '../../runtime/docker/firewall.js'

describe('docker driver: bridge firewall rules', () => {
  const comment = ruleComment('0123456789abcdef', 'demo', 4242)

  it('names the sandbox and its owner in every rule comment', () => {
    assert.equal(comment, 'kit-sandbox:0123456789abcdef:demo:4242')
    for (const r of bridgeRules('kitbr-1', comment, undefined, true)) assert.deepEqual(r.spec.slice(r.spec.indexOf('--comment'), r.spec.indexOf('--comment') + 2), ['--comment', comment])
  })

  it('rejects everything from the bridge to the host and drops everything forwarded, IPv4 and IPv6', () => {
    const rules = bridgeRules('kitbr-1', comment, undefined, true)
    const v4 = rules.filter((r) => r.tool === 'iptables')
    const v6 = rules.filter((r) => r.tool === 'ip6tables')
    for (const set of [v4, v6]) {
      assert.ok(set.some((r) => r.chain === 'INPUT' && r.spec[0] === '-i' && (r.spec.includes('REJECT') || r.spec.at(-1) === 'DROP') && !r.spec.includes('-p')), 'INPUT: all protocols')
      assert.ok(set.some((r) => r.chain === 'FORWARD' && r.spec[0] === '-i' && r.spec.at(-1) === 'DROP'))
      assert.ok(set.some((r) => r.chain === 'FORWARD' && r.spec[0] === '-o' && r.spec.at(-1) === 'DROP'))
    }
    assert.equal(bridgeRules('kitbr-1', comment, undefined, false).some((r) => r.tool === 'ip6tables'), false)
    assert.equal(rules.some((r) => r.spec.includes('ACCEPT')), false, 'nothing accepted before the forwarder exists')
  })

  it('accepts only the forwarder (gateway, TCP port) from the bridge and refuses it from any other interface', () => {
    const [accept, refuse, ...rest] = bridgeRules('kitbr-1', comment, {gateway: '0.0.0.0', port: 3128})
    assert.deepEqual(rest, [])
    assert.deepEqual(accept!.spec.filter((w) => !w.startsWith('kit-sandbox')), ['-i', 'kitbr-1', '-d', '0.0.0.0', '-p', 'tcp', '--dport', '3128', '-m', 'comment', '--comment', '-j', 'ACCEPT'])
    assert.deepEqual(refuse!.spec.slice(0, 3), ['!', '-i', 'kitbr-1'])
    assert.ok(refuse!.spec.includes('REJECT'))
  })

  it("lets only the sandbox's subnet use the forwarder", () => {
    // Pure address arithmetic (no traffic); loopback literals only, as everywhere in test/.
    const allow = inSubnet('127.1.2.0/24')
    assert.equal(allow('127.1.2.15'), true)
    assert.equal(allow('::ffff:127.1.2.15'), true)
    assert.equal(allow('127.1.3.15'), false)
    assert.equal(allow('127.0.0.1'), false)
    assert.equal(allow('::1'), false)
    assert.equal(allow(''), false)
    assert.equal(inSubnet('0.0.0.0/0')('127.0.0.1'), true)
  })
})
