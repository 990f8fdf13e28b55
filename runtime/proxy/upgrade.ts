// Which protocol upgrades the proxy lets through. After an upgrade the connection is a raw stream
// the proxy no longer parses as HTTP, so later requests on it would not be judged:
// - WebSocket is judged once, by the rule that matches its own request (method GET and path);
// - `h2c` is never forwarded: the request goes on without Upgrade and HTTP2-Settings (as a plain
//   HTTP/1.1 request, judged as any other);
// - any other token (or several) is refused on a host whose rules name methods or paths, since
//   they would switch those rules off; elsewhere the whole host is allowed anyway.

export type UpgradeVerdict =
  | {kind: 'websocket'}
  /** Forward as a plain request, without the upgrade. */
  | {kind: 'strip'}
  | {kind: 'refuse'; reason: string}
  /** Another protocol on a host without L7 rules. */
  | {kind: 'other'; protocol: string}

function tokens(raw: readonly string[], name: string): {count: number; values: string[]} {
  let count = 0
  const values: string[] = []
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== name) continue
    count++
    for (const t of raw[i + 1]!.split(',')) {
      const v = t.trim().toLowerCase()
      if (v) values.push(v)
    }
  }
  return {count, values}
}

/** Judge an upgrade request's headers. `l7`: the host has method/path rules. */
export function classifyUpgrade(rawHeaders: readonly string[], l7: boolean): UpgradeVerdict {
  const up = tokens(rawHeaders, 'upgrade')
  if (up.count > 1) return {kind: 'refuse', reason: 'more than one Upgrade header'}
  const names = up.values.map((v) => v.split('/')[0]!)
  const h2 = names.includes('h2c') || tokens(rawHeaders, 'http2-settings').count > 0
  if (h2) {
    if (names.every((n) => n === 'h2c')) return {kind: 'strip'}
    return {kind: 'refuse', reason: `upgrade to ${up.values.join(', ')} (h2c is never forwarded)`}
  }
  if (names.length === 1 && names[0] === 'websocket') return {kind: 'websocket'}
  if (names.length === 0) return {kind: 'refuse', reason: 'an upgrade without a protocol'}
  if (l7) return {kind: 'refuse', reason: `upgrade to ${up.values.join(', ')} on a host with method/path rules (only WebSocket is allowed there)`}
  return {kind: 'other', protocol: up.values.join(', ')}
}

/** Whether an upstream's 101 answers the protocol asked for. */
export function upgradeAnswered(verdict: UpgradeVerdict, responseUpgrade: string | undefined): boolean {
  const got = (responseUpgrade ?? '').trim().toLowerCase()
  if (verdict.kind === 'websocket') return got === 'websocket'
  if (verdict.kind === 'other') return got !== '' && !got.split(',').some((t) => t.trim().split('/')[0] === 'h2c')
  return false
}
