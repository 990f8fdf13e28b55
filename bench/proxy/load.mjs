// A small load generator for the proxy bench: keep-alive GETs on raw sockets, directly, through a
// plain forward proxy (absolute form), or through CONNECT + TLS (origin form inside the tunnel).
// Usage: node load.mjs MODE [options] → one JSON line.
//   MODE: direct-http | direct-https | proxy-plain | proxy-tls
//   --proxy HOST:PORT  --target HOST:PORT  --path /small  --conns N  --seconds S  --ca FILE
//   --latency N        (1 connection, N sequential requests; reports p50/p99 in microseconds)
import net from 'node:net'
import tls from 'node:tls'
import {readFileSync} from 'node:fs'

const [mode, ...rest] = process.argv.slice(2)
const opt = {}
for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, '')] = rest[i + 1]
const [thost, tport] = opt.target.split(':')
const [phost, pport] = (opt.proxy ?? ':').split(':')
const path = opt.path ?? '/small'
const ca = opt.ca ? opt.ca.split(',').map((f) => readFileSync(f, 'utf8')) : undefined
const request =
  mode === 'proxy-plain'
    ? `GET http://${thost}:${tport}${path} HTTP/1.1\r\nHost: ${thost}:${tport}\r\n\r\n`
    : `GET ${path} HTTP/1.1\r\nHost: ${thost}:${tport}\r\n\r\n`

function open() {
  return new Promise((resolve, reject) => {
    if (mode === 'direct-http') {
      const s = net.connect({port: Number(tport), host: '127.0.0.1', noDelay: true}, () => resolve(s))
      s.once('error', reject)
    } else if (mode === 'direct-https') {
      const s = tls.connect({port: Number(tport), host: '127.0.0.1', servername: thost, ca}, () => resolve(s))
      s.once('error', reject)
    } else if (mode === 'proxy-plain') {
      const s = net.connect({port: Number(pport), host: phost, noDelay: true}, () => resolve(s))
      s.once('error', reject)
    } else {
      const s = net.connect({port: Number(pport), host: phost, noDelay: true}, () => s.write(`CONNECT ${thost}:${tport} HTTP/1.1\r\nHost: ${thost}:${tport}\r\n\r\n`))
      let buf = ''
      const onData = (d) => {
        buf += d.toString('latin1')
        if (!buf.includes('\r\n\r\n')) return
        s.removeListener('data', onData)
        if (!/^HTTP\/1\.[01] 200/.test(buf)) return reject(new Error('CONNECT refused: ' + buf.split('\r\n')[0]))
        const t = tls.connect({socket: s, servername: thost, ca}, () => resolve(t))
        t.once('error', reject)
      }
      s.on('data', onData)
      s.once('error', reject)
    }
  })
}

/** Send one request and wait for its whole response (Content-Length framing). */
function exchange(s) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    let need = -1
    const onData = (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d
      if (need < 0) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buf.subarray(0, end).toString('latin1')
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head)
        need = end + 4 + (cl ? Number(cl[1]) : 0)
        s.closeAfter = /\r\nconnection:\s*close/i.test(head) || (head.startsWith('HTTP/1.0') && !/\r\nconnection:\s*keep-alive/i.test(head))
        s.status = Number(head.slice(9, 12))
      }
      if (buf.length >= need) {
        cleanup()
        resolve(s.status)
      }
    }
    const onClose = () => {
      cleanup()
      reject(new Error('closed'))
    }
    const cleanup = () => {
      s.removeListener('data', onData)
      s.removeListener('close', onClose)
      s.removeListener('error', onClose)
    }
    s.on('data', onData)
    s.once('close', onClose)
    s.once('error', onClose)
    s.write(request)
  })
}

async function worker(deadline, stats) {
  let s = await open()
  while (Date.now() < deadline) {
    try {
      const status = await exchange(s)
      if (status === 200) stats.ok++
      else stats.bad++
      if (s.closeAfter) {
        s.destroy()
        s = await open()
        stats.reconnects++
      }
    } catch {
      stats.errors++
      s.destroy()
      s = await open()
      stats.reconnects++
    }
  }
  s.destroy()
}

if (opt.latency) {
  const n = Number(opt.latency)
  const s = await open()
  const samples = []
  let current = s
  for (let i = 0; i < n + 50; i++) {
    const t0 = process.hrtime.bigint()
    try {
      await exchange(current)
    } catch {
      current.destroy()
      current = await open()
      i--
      continue
    }
    const dt = Number(process.hrtime.bigint() - t0) / 1000
    if (current.closeAfter) {
      current.destroy()
      current = await open()
    }
    if (i >= 50) samples.push(dt)
  }
  current.destroy()
  samples.sort((a, b) => a - b)
  const q = (p) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]
  console.log(JSON.stringify({mode, requests: n, p50_us: Math.round(q(0.5)), p99_us: Math.round(q(0.99))}))
} else {
  const seconds = Number(opt.seconds ?? 5)
  const conns = Number(opt.conns ?? 32)
  const stats = {ok: 0, bad: 0, errors: 0, reconnects: 0}
  const start = Date.now()
  await Promise.all(Array.from({length: conns}, () => worker(start + seconds * 1000, stats)))
  const elapsed = (Date.now() - start) / 1000
  console.log(JSON.stringify({mode, conns, seconds: elapsed, ...stats, rps: Math.round(stats.ok / elapsed)}))
}
