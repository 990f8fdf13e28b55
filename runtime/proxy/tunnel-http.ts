// What a plain (not intercepted) CONNECT tunnel carries, from the client's first bytes once they
// are known not to be a TLS ClientHello. The proxy must not let HTTP through unjudged: a request
// with another Host would reach that virtual host (fronting) or, through an allowed host that is
// itself a proxy, anywhere. So anything that is not clearly another protocol goes to the proxy's
// HTTP parser, which judges each request's Host against the CONNECT target and the rules (leading
// empty lines, any method, pipelined requests) and refuses what it cannot parse: fail closed.
// The one client-first protocol passed as a raw stream is SSH (its identification line starts
// `SSH-`); a server that speaks first (SMTP, SSH servers) is handled before this is asked.

export type TunnelStart = {kind: 'need-more'} | {kind: 'http'} | {kind: 'ssh'}

const SSH = Buffer.from('SSH-', 'latin1')

export function classifyTunnelStart(buf: Buffer): TunnelStart {
  let i = 0
  // Empty lines before a request line (RFC 9112 2.2 lets a server ignore them; parsers do).
  while (i < buf.length && (buf[i] === 0x0d || buf[i] === 0x0a)) i++
  const rest = buf.subarray(i)
  if (rest.length === 0) return {kind: 'need-more'}
  if (i === 0) {
    const n = Math.min(rest.length, SSH.length)
    if (rest.compare(SSH, 0, n, 0, n) === 0) return n === SSH.length ? {kind: 'ssh'} : {kind: 'need-more'}
  }
  return {kind: 'http'}
}
