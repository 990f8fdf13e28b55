// The streaming redactor on its own: a value is found wherever chunk boundaries fall, nothing else
// is changed or held back longer than a possible value's start.
import assert from 'node:assert/strict'
import {Redactor} from '../../runtime/proxy/redact.js'

async function through(r: Redactor, chunks: Buffer[], sameLength = false): Promise<{out: string; count: number}> {
  const counter = {count: 0}
  const t = r.stream(counter, sameLength)
  const parts: Buffer[] = []
  t.on('data', (d: Buffer) => parts.push(d))
  const done = new Promise((res) => t.on('end', res))
  for (const c of chunks) t.write(c)
  t.end()
  await done
  return {out: Buffer.concat(parts).toString('utf8'), count: counter.count}
}

describe('proxy: response redaction (streaming)', () => {
  const r = new Redactor()
  r.add([
    {secret: 'sk-SECRET-abcdef', placeholder: 'proxy-managed'},
    {secret: 'sk-SECRET-abcdef-longer', placeholder: 'PH-LONG'},
    {secret: 'zzzz', placeholder: 'Z'},
  ])
  const text = 'a sk-SECRET-abcdef b sk-SECRET-abcdef-longer c zzzzz sk-SECRET-abc d'
  const want = 'a proxy-managed b PH-LONG c Zz sk-SECRET-abc d'

  it('finds every value at every split of the stream into two and three chunks', async () => {
    const b = Buffer.from(text)
    for (let i = 0; i <= b.length; i++) {
      const two = await through(r, [b.subarray(0, i), b.subarray(i)])
      assert.equal(two.out, want, `split at ${i}`)
      assert.equal(two.count, 3)
      const j = Math.min(b.length, i + 3)
      const three = await through(r, [b.subarray(0, i), b.subarray(i, j), b.subarray(j)])
      assert.equal(three.out, want, `split at ${i}, ${j}`)
    }
  })

  it('finds values sent one byte at a time', async () => {
    const b = Buffer.from(text)
    const res = await through(r, [...b].map((x) => Buffer.from([x])))
    assert.equal(res.out, want)
  })

  it('holds back only bytes that could start a value', async () => {
    const counter = {count: 0}
    const t = r.stream(counter)
    const got: string[] = []
    t.on('data', (d: Buffer) => got.push(d.toString()))
    t.write(Buffer.from('data: event one\n\n'))
    await new Promise((res) => setImmediate(res))
    assert.equal(got.join(''), 'data: event one\n\n', 'a whole event is not delayed')
    t.write(Buffer.from('x sk-SEC'))
    await new Promise((res) => setImmediate(res))
    assert.equal(got.join(''), 'data: event one\n\nx ', 'the start of a value waits')
    t.end(Buffer.from('RET-abcdef!'))
    await new Promise((res) => t.on('end', res))
    assert.equal(got.join(''), 'data: event one\n\nx proxy-managed!')
  })

  it('masks in place with the same length for upgraded streams', async () => {
    const res = await through(r, [Buffer.from('[sk-SECRET-abcdef]')], true)
    assert.equal(res.out.length, '[sk-SECRET-abcdef]'.length)
    assert.ok(!res.out.includes('sk-SECRET-abcdef'))
  })
})
