import assert from 'node:assert/strict'
import {isRetryableStatus, nextLink, retryAfterMs} from '../../registry-client/index.js'

describe('registry-client: retry policy and Link headers', () => {
  it('retries 408, 429 and 5xx but not 501/505 or 4xx', () => {
    assert.deepEqual(
      [400, 401, 404, 408, 429, 500, 501, 502, 503, 504, 505].filter(isRetryableStatus),
      [408, 429, 500, 502, 503, 504],
    )
  })

  it('reads Retry-After as seconds or an HTTP date', () => {
    assert.equal(retryAfterMs('3'), 3000)
    const now = Date.parse('Mon, 23 Nov 2026 12:00:00 GMT')
    assert.equal(retryAfterMs('Mon, 23 Nov 2026 12:00:05 GMT', now), 5000)
    assert.equal(retryAfterMs('Mon, 23 Nov 2026 11:00:00 GMT', now), 0)
    assert.equal(retryAfterMs('soon'), undefined)
    assert.equal(retryAfterMs(undefined), undefined)
  })

  it('follows rel="next" in Link', () => {
    assert.equal(nextLink('</v2/x/tags/list?last=b&n=2>; rel="next"'), '/v2/x/tags/list?last=b&n=2')
    assert.equal(nextLink('<https://a/x>; rel="prev", <https://a/y>; rel=next'), 'https://a/y')
    assert.equal(nextLink(undefined), undefined)
  })
})
