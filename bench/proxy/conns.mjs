// Hold N connections open through a proxy (CONNECT + TLS + one request each), print "ready" and
// keep them until SIGTERM. Usage: node conns.mjs PROXY_HOST:PORT TARGET_HOST:PORT N CA_FILES
import net from 'node:net'
import tls from 'node:tls'
import {readFileSync} from 'node:fs'

const [proxy, target, nText, caFiles] = process.argv.slice(2)
const [phost, pport] = proxy.split(':')
const [thost] = target.split(':')
const ca = caFiles.split(',').map((f) => readFileSync(f, 'utf8'))
const n = Number(nText)
const held = []

function one() {
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(pport), phost, () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`))
    s.once('error', reject)
    let buf = ''
    const onData = (d) => {
      buf += d.toString('latin1')
      if (!buf.includes('\r\n\r\n')) return
      s.removeListener('data', onData)
      if (!/^HTTP\/1\.[01] 200/.test(buf)) return reject(new Error(buf.split('\r\n')[0]))
      const t = tls.connect({socket: s, servername: thost, ca}, () => {
        t.write(`GET /small HTTP/1.1\r\nHost: ${target}\r\n\r\n`)
        t.once('data', () => {
          held.push(t)
          resolve()
        })
      })
      t.once('error', reject)
    }
    s.on('data', onData)
  })
}

let failed = 0
for (let i = 0; i < n; i += 50) {
  const batch = await Promise.allSettled(Array.from({length: Math.min(50, n - i)}, one))
  failed += batch.filter((b) => b.status === 'rejected').length
}
process.stdout.write(JSON.stringify({held: held.length, failed}) + '\n')
// Hold them until told to stop.
setInterval(() => undefined, 60_000)
process.on('SIGTERM', () => process.exit(0))
