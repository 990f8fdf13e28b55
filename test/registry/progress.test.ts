import assert from 'node:assert/strict'
import {progressDisplay, shouldShowProgress} from '../../registry-client/index.js'

function fakeStream(isTTY: boolean): NodeJS.WriteStream & {written: string} {
  const s = {isTTY, columns: 100, written: '', write(chunk: string) {
    s.written += chunk
    return true
  }}
  return s as unknown as NodeJS.WriteStream & {written: string}
}

describe('registry-client: progress', () => {
  it('shows only on a terminal, never with --json or in CI', () => {
    assert.equal(shouldShowProgress(fakeStream(true), false, {}), true)
    assert.equal(shouldShowProgress(fakeStream(false), false, {}), false)
    assert.equal(shouldShowProgress(fakeStream(true), true, {}), false)
    assert.equal(shouldShowProgress(fakeStream(true), false, {CI: 'true'}), false)
  })

  it('draws one line and clears it', () => {
    const stream = fakeStream(true)
    const bar = progressDisplay('pushing x', stream, true)
    const d = {mediaType: 'a', digest: 'sha256:' + 'a'.repeat(64), size: 2 * 1024 * 1024}
    bar.onProgress!({type: 'start', descriptor: d})
    bar.onProgress!({type: 'done', descriptor: d, bytes: d.size})
    bar.done()
    assert.match(stream.written, /\rpushing x \[#+\] 100% 2\.0 MB\/2\.0 MB/)
    assert.ok(stream.written.endsWith('\r\x1b[K'))
    const off = progressDisplay('x', stream, false)
    assert.equal(off.onProgress, undefined)
  })
})
