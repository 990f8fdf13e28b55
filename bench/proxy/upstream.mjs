// Bench upstreams on loopback: plain HTTP and two HTTPS servers (one reached through a CONNECT
// tunnel, one through the proxy's TLS interception), all serving /small (a 2-byte body) and
// /bytes/N (N bytes). The HTTPS certificates come from a test CA in BENCH_UPCA_HOME (a kit CA,
// as in the tests). Prints {"http":P,"tunnel":P,"mitm":P,"ca":"path"} and runs until killed.
import http from 'node:http'
import https from 'node:https'
import {loadOrCreateCA} from '../../dist/runtime/proxy/ca.js'

const ca = await loadOrCreateCA({KIT_HOME: process.env.BENCH_UPCA_HOME})
const chunk = Buffer.alloc(256 * 1024, 0x61)
function handler(req, res) {
  const m = /^\/bytes\/(\d+)$/.exec(req.url)
  if (m) {
    let left = Number(m[1])
    res.writeHead(200, {'content-type': 'application/octet-stream', 'content-length': String(left)})
    const pump = () => {
      while (left > 0) {
        const c = left >= chunk.length ? chunk : chunk.subarray(0, left)
        left -= c.length
        if (!res.write(c)) return res.once('drain', pump)
      }
      res.end()
    }
    return pump()
  }
  res.writeHead(200, {'content-type': 'text/plain', 'content-length': '2'})
  res.end('ok')
}
const tlsOpts = {SNICallback: (n, cb) => ca.contextFor(n).then((c) => cb(null, c), cb)}
const servers = [http.createServer(handler), https.createServer(tlsOpts, handler), https.createServer(tlsOpts, handler)]
for (const s of servers) {
  s.keepAliveTimeout = 60_000
  s.maxConnections = 5000
  await new Promise((r) => s.listen(0, '127.0.0.1', 2048, r))
}
const [h, t, m] = servers.map((s) => s.address().port)
process.stdout.write(JSON.stringify({http: h, tunnel: t, mitm: m, ca: ca.certPath}) + '\n')
