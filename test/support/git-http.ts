// A `git http-backend` (smart HTTP) request handler for repositories under a root, as a fixture
// upstream for tests that clone through the policy proxy. Every request's Authorization header is
// recorded; a request without the expected one gets 401 with a Basic challenge.
import {spawn} from 'node:child_process'
import type http from 'node:http'

export function gitHttpBackend(root: string, authSeen: string[], expected: () => string): http.RequestListener {
  return (req, res) => {
    const auth = req.headers.authorization ?? ''
    authSeen.push(auth)
    if (auth !== expected()) {
      res.writeHead(401, {'WWW-Authenticate': 'Basic realm="fixture"', 'Content-Length': '0'})
      res.end()
      return
    }
    const url = new URL(req.url ?? '/', 'https://fixture')
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method,
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: 'x-access-token',
        REMOTE_ADDR: '127.0.0.1',
        ...(req.headers['content-encoding'] ? {HTTP_CONTENT_ENCODING: req.headers['content-encoding']} : {}),
        ...(req.headers['git-protocol'] ? {GIT_PROTOCOL: String(req.headers['git-protocol'])} : {}),
      },
    })
    req.pipe(cgi.stdin)
    let head = Buffer.alloc(0)
    let headerDone = false
    cgi.stdout.on('data', (d: Buffer) => {
      if (headerDone) {
        res.write(d)
        return
      }
      head = Buffer.concat([head, d])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      headerDone = true
      let status = 200
      const headers: Record<string, string> = {}
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const c = line.indexOf(':')
        const k = line.slice(0, c).trim()
        const v = line.slice(c + 1).trim()
        if (k.toLowerCase() === 'status') status = Number(v.split(' ')[0])
        else headers[k] = v
      }
      res.writeHead(status, headers)
      res.write(head.subarray(end + 4))
    })
    cgi.stdout.on('end', () => res.end())
    cgi.on('error', () => res.destroy())
  }
}
