// The progress display of kit push/pull (cli/progress.ts) and the one unit style (cli/units.ts).
import assert from 'node:assert/strict'
import {progressDisplay, progressMode, shortDigest} from '../../cli/progress.js'
import {formatBytes} from '../../cli/units.js'

function fakeStream(isTTY: boolean): NodeJS.WriteStream & {written: string} {
  const s = {isTTY, columns: 100, written: '', write(chunk: string) {
    s.written += chunk
    return true
  }}
  return s as unknown as NodeJS.WriteStream & {written: string}
}

const verbs = {active: 'pushing', done: 'pushed'}

describe('cli: progress and units', () => {
  it('a bar on a terminal; lines without one or in CI; nothing with --json or --quiet', () => {
    assert.equal(progressMode(fakeStream(true), {}, {}), 'bar')
    assert.equal(progressMode(fakeStream(false), {}, {}), 'lines')
    assert.equal(progressMode(fakeStream(true), {}, {CI: 'true'}), 'lines')
    assert.equal(progressMode(fakeStream(true), {}, {TERM: 'dumb'}), 'lines')
    assert.equal(progressMode(fakeStream(true), {json: true}, {}), 'off')
    assert.equal(progressMode(fakeStream(false), {quiet: true}, {}), 'off')
    assert.equal(progressDisplay('x', verbs, fakeStream(false), 'off').onProgress, undefined)
  })

  it('draws one bar line and clears it', () => {
    const stream = fakeStream(true)
    const bar = progressDisplay('pushing x', verbs, stream, 'bar')
    const d = {mediaType: 'a', digest: 'sha256:' + 'a'.repeat(64), size: 2_000_000}
    bar.onProgress!({type: 'start', descriptor: d})
    bar.onProgress!({type: 'done', descriptor: d, bytes: d.size})
    bar.done()
    assert.match(stream.written, /\rpushing x \[#+\] 100% 2\.0 MB\/2\.0 MB/)
    assert.ok(stream.written.endsWith('\r\x1b[K'))
  })

  it('writes one line per blob and stage, as docker does, and no bar codes', () => {
    const stream = fakeStream(false)
    const lines = progressDisplay('pushing r/x:1', verbs, stream, 'lines')
    const big = {mediaType: 'a', digest: 'sha256:ab12' + '0'.repeat(60), size: 77_612_345}
    const small = {mediaType: 'a', digest: 'sha256:cd34' + '0'.repeat(60), size: 300}
    lines.onProgress!({type: 'skip', descriptor: small})
    lines.onProgress!({type: 'start', descriptor: big})
    for (let i = 1; i <= 10; i++) lines.onProgress!({type: 'progress', descriptor: big, bytes: i * 7_000_000})
    lines.onProgress!({type: 'done', descriptor: big, bytes: big.size})
    lines.onProgress!({type: 'mount', descriptor: small, from: 'team/base'})
    lines.done()
    assert.deepEqual(stream.written.split('\n'), [
      'pushing r/x:1',
      'sha256:cd3400000000… already present',
      'sha256:ab1200000000… pushing 77.6 MB',
      'sha256:ab1200000000… pushed 77.6 MB',
      'sha256:cd3400000000… mounted from team/base',
      '',
    ])
  })

  it('prints sizes in decimal units with one decimal', () => {
    assert.equal(formatBytes(0), '0 B')
    assert.equal(formatBytes(999), '999 B')
    assert.equal(formatBytes(1000), '1.0 kB')
    assert.equal(formatBytes(1536), '1.5 kB')
    assert.equal(formatBytes(77_612_345), '77.6 MB')
    assert.equal(formatBytes(999_960), '1.0 MB')
    assert.equal(formatBytes(1_250_000_000), '1.3 GB')
    assert.equal(shortDigest('sha256:' + 'f'.repeat(64)), 'sha256:ffffffffffff…')
  })
})
