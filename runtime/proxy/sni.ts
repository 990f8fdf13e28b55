// Reading the server name (SNI) from a TLS ClientHello without terminating TLS, so that a tunnelled
// CONNECT can be held to its target: the SNI must name the host the CONNECT named (no domain
// fronting). Only the first handshake message is read; it may span several records.

export type ClientHelloResult =
  | {status: 'need-more'}
  | {status: 'not-tls'}
  | {status: 'bad'; problem: string}
  | {status: 'ok'; sni?: string; alpn?: string[]}

/** The most bytes buffered while waiting for a whole ClientHello. */
export const MAX_CLIENT_HELLO = 64 * 1024

export function parseClientHello(buf: Buffer): ClientHelloResult {
  if (buf.length === 0) return {status: 'need-more'}
  if (buf[0] !== 0x16) return {status: 'not-tls'}
  // Gather the handshake bytes from consecutive handshake records.
  const parts: Buffer[] = []
  let have = 0
  let off = 0
  let need = -1
  while (true) {
    if (buf.length < off + 5) return buf.length > MAX_CLIENT_HELLO ? {status: 'bad', problem: 'ClientHello too large'} : {status: 'need-more'}
    if (buf[off] !== 0x16) return {status: 'bad', problem: 'a non-handshake record before the ClientHello ended'}
    if (buf[off + 1] !== 0x03) return {status: 'bad', problem: 'not a TLS record'}
    const len = buf.readUInt16BE(off + 3)
    if (len === 0 || len > 16384 + 2048) return {status: 'bad', problem: 'bad TLS record length'}
    if (buf.length < off + 5 + len) return buf.length > MAX_CLIENT_HELLO ? {status: 'bad', problem: 'ClientHello too large'} : {status: 'need-more'}
    parts.push(buf.subarray(off + 5, off + 5 + len))
    have += len
    off += 5 + len
    if (need < 0 && have >= 4) {
      const hs = Buffer.concat(parts)
      if (hs[0] !== 0x01) return {status: 'bad', problem: 'the first handshake message is not a ClientHello'}
      need = 4 + hs.readUIntBE(1, 3)
      if (need > MAX_CLIENT_HELLO) return {status: 'bad', problem: 'ClientHello too large'}
    }
    if (need >= 0 && have >= need) return parseHello(Buffer.concat(parts).subarray(4, need))
  }
}

function parseHello(b: Buffer): ClientHelloResult {
  const bad = (problem: string): ClientHelloResult => ({status: 'bad', problem})
  let p = 0
  const take = (n: number): Buffer | undefined => {
    if (p + n > b.length) return undefined
    const out = b.subarray(p, p + n)
    p += n
    return out
  }
  if (!take(2 + 32)) return bad('short ClientHello')
  const sid = take(1)
  if (!sid || !take(sid[0]!)) return bad('short session id')
  const cs = take(2)
  if (!cs || !take(cs.readUInt16BE(0))) return bad('short cipher suites')
  const comp = take(1)
  if (!comp || !take(comp[0]!)) return bad('short compression methods')
  if (p === b.length) return {status: 'ok'} // no extensions
  const extLenB = take(2)
  if (!extLenB) return bad('short extensions')
  const end = p + extLenB.readUInt16BE(0)
  if (end > b.length) return bad('extensions overrun the ClientHello')
  let sni: string | undefined
  let alpn: string[] | undefined
  let seenSni = false
  while (p < end) {
    const h = take(4)
    if (!h) return bad('short extension header')
    const type = h.readUInt16BE(0)
    const data = take(h.readUInt16BE(2))
    if (!data || p > end) return bad('extension overruns the list')
    if (type === 0) {
      if (seenSni) return bad('two server_name extensions')
      seenSni = true
      if (data.length < 2 || data.readUInt16BE(0) !== data.length - 2) return bad('bad server_name list')
      let q = 2
      while (q < data.length) {
        if (q + 3 > data.length) return bad('bad server_name entry')
        const nameType = data[q]!
        const len = data.readUInt16BE(q + 1)
        if (q + 3 + len > data.length) return bad('bad server_name entry')
        if (nameType === 0) {
          if (sni !== undefined) return bad('two host names in server_name')
          sni = data.subarray(q + 3, q + 3 + len).toString('latin1')
          if (!/^[\x21-\x7e]+$/.test(sni)) return bad('server_name holds bytes that are not printable ASCII')
        }
        q += 3 + len
      }
    } else if (type === 16 && data.length >= 2) {
      alpn = []
      let q = 2
      while (q < data.length) {
        const len = data[q]!
        alpn.push(data.subarray(q + 1, q + 1 + len).toString('latin1'))
        q += 1 + len
      }
    }
  }
  const out: ClientHelloResult = {status: 'ok'}
  if (sni !== undefined) out.sni = sni
  if (alpn !== undefined) out.alpn = alpn
  return out
}
