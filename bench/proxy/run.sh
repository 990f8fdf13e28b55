#!/usr/bin/env bash
# Policy proxy benchmark: kit proxy against direct loopback and tinyproxy, on the same workloads,
# in one run. Everything is on loopback: upstreams are local node servers, names are `localhost`.
#   1. CONNECT tunnel throughput (curl downloads over TLS, timed by hyperfine): kit / direct
#      (target >= 0.9) and tinyproxy / direct.
#   2. Small keep-alive GETs per second (32 connections, 5 s): kit with TLS interception vs
#      tinyproxy plain forwarding (target: kit MITM >= tinyproxy plain); also wrk against both
#      proxies in plain (absolute-form) mode.
#   3. Added latency, p50/p99 over 2,000 sequential requests on one connection.
#   4. RSS of the proxy process holding 1,000 concurrent tunnels (CONNECT + TLS + one request).
# Usage: bench/proxy/run.sh   (after `npx tsc -p .`; needs curl, hyperfine, wrk, tinyproxy)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TMP=$(mktemp -d /tmp/kit-bench-proxy.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy NO_PROXY no_proxy
SIZE=${SIZE:-536870912}      # bytes per download
SECONDS_RATE=${SECONDS_RATE:-5}
CONNS=${CONNS:-32}
HOLD=${HOLD:-1000}

[ -f "$ROOT/dist/runtime/proxy/server.js" ] || { echo "run 'npx tsc -p .' first" >&2; exit 1; }
freeport() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
waitfile() { for _ in $(seq 1 600); do [ -s "$1" ] && grep -q "$2" "$1" && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; cat "$1" >&2; exit 1; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
jget() { node -e "const o=JSON.parse(require('fs').readFileSync(0,'utf8'));console.log(o$1)"; }

# Upstreams.
BENCH_UPCA_HOME=$TMP/upca node "$HERE/upstream.mjs" >"$TMP/up.json" 2>"$TMP/up.err" &
PIDS+=($!)
waitfile "$TMP/up.json" mitm
HTTP=$(jget .http <"$TMP/up.json"); TUN=$(jget .tunnel <"$TMP/up.json"); MITM=$(jget .mitm <"$TMP/up.json"); UPCA=$(jget .ca <"$TMP/up.json")

# kit proxy: localhost is loopback, so a CIDR rule must name it; the L7 deny on the MITM port makes
# the proxy terminate TLS there (each request judged); the tunnel port is only tunnelled.
KP=$(freeport)
KIT_HOME=$TMP/kithome KIT_SECRET_STORE=file node "$ROOT/bin/kit" proxy --listen "127.0.0.1:$KP" \
  --allow 'localhost:*' --allow '127.0.0.0/8:*' --deny "DELETE localhost:$MITM/**" \
  --upstream-ca "$UPCA" --log "$TMP/audit.jsonl" >"$TMP/kit.out" 2>"$TMP/kit.err" &
KIT_PID=$!
PIDS+=($KIT_PID)
waitfile "$TMP/kit.out" listening
KITCA=$TMP/kithome/proxy/ca.pem

# tinyproxy with its own config.
TP=$(freeport)
cat >"$TMP/tinyproxy.conf" <<CONF
Port $TP
Listen 127.0.0.1
Timeout 600
MaxClients 4000
Allow 127.0.0.1
ConnectPort $TUN
ConnectPort $MITM
DisableViaHeader Yes
LogLevel Critical
LogFile "$TMP/tinyproxy.log"
CONF
tinyproxy -d -c "$TMP/tinyproxy.conf" >"$TMP/tp.out" 2>&1 &
TP_PID=$!
PIDS+=($TP_PID)
for _ in $(seq 1 100); do curl -s -o /dev/null -x "http://127.0.0.1:$TP" "http://localhost:$HTTP/small" && break; sleep 0.1; done

echo "== kit proxy benchmark ($(nproc) cores; kit pid $KIT_PID, tinyproxy pid $TP_PID)"

# 1. Tunnel throughput.
URL="https://localhost:$TUN/bytes/$SIZE"
C="curl -sS -o /dev/null --noproxy '' --cacert $UPCA"
k0=$(awk '{print $14 + $15}' "/proc/$KIT_PID/stat"); t0=$(awk '{print $14 + $15}' "/proc/$TP_PID/stat")
hyperfine --style none --warmup 1 --runs 5 --export-json "$TMP/tput.json" \
  -n direct "$C $URL" -n kit "$C -x http://127.0.0.1:$KP $URL" -n tinyproxy "$C -x http://127.0.0.1:$TP $URL" >/dev/null
k1=$(awk '{print $14 + $15}' "/proc/$KIT_PID/stat"); t1=$(awk '{print $14 + $15}' "/proc/$TP_PID/stat")
node - "$TMP/tput.json" "$SIZE" "$((k1 - k0))" "$((t1 - t0))" <<'JS'
const [file, size, kt, tt] = process.argv.slice(2)
const gib = (6 * Number(size)) / 2 ** 30
console.log(`  proxy CPU per GiB tunnelled: kit ${((kt * 10) / gib).toFixed(0)} ms, tinyproxy ${((tt * 10) / gib).toFixed(0)} ms`)
const r = Object.fromEntries(JSON.parse(require('fs').readFileSync(file, 'utf8')).results.map((x) => [x.command, x.median]))
const mbs = (t) => (Number(size) / t / 1e6).toFixed(0)
console.log(`tunnel throughput (${(size / 2 ** 20).toFixed(0)} MiB over TLS, median of 5): direct ${mbs(r.direct)} MB/s, kit ${mbs(r.kit)} MB/s, tinyproxy ${mbs(r.tinyproxy)} MB/s`)
console.log(`  ratio kit/direct = ${(r.direct / r.kit).toFixed(2)} (target >= 0.90); tinyproxy/direct = ${(r.direct / r.tinyproxy).toFixed(2)}`)
JS

# 2. Request rate, keep-alive. Each workload runs 3 times, interleaved, and the median counts; the
# proxy's own CPU time per request (from /proc, immune to other load on the machine) is reported too.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rate() { # NAME PROXY_PID|- LOAD-ARGS...
  local name=$1 pid=$2 c0 c1
  shift 2
  c0=$([ "$pid" = - ] && echo 0 || cpu_ticks "$pid")
  node "$HERE/load.mjs" "$@" --conns "$CONNS" --seconds "$SECONDS_RATE" >"$TMP/r.json"
  c1=$([ "$pid" = - ] && echo 0 || cpu_ticks "$pid")
  node -e "const o=JSON.parse(require('fs').readFileSync('$TMP/r.json','utf8'));o.name='$name';o.cpu_ticks=$c1-$c0;console.log(JSON.stringify(o))" >>"$TMP/rates.jsonl"
}
for _ in 1 2 3; do
  rate direct-http - direct-http --target "localhost:$HTTP"
  rate tinyproxy-plain "$TP_PID" proxy-plain --proxy "127.0.0.1:$TP" --target "localhost:$HTTP"
  rate kit-plain "$KIT_PID" proxy-plain --proxy "127.0.0.1:$KP" --target "localhost:$HTTP"
  rate direct-https - direct-https --target "localhost:$MITM" --ca "$UPCA"
  rate kit-mitm "$KIT_PID" proxy-tls --proxy "127.0.0.1:$KP" --target "localhost:$MITM" --ca "$KITCA"
done
cat >"$TMP/abs.lua" <<LUA
wrk.path = "http://localhost:$HTTP/small"
wrk.headers["Host"] = "localhost:$HTTP"
LUA
wrk -t1 -c"$CONNS" -d"${SECONDS_RATE}s" -s "$TMP/abs.lua" "http://127.0.0.1:$TP" >"$TMP/wrk-tp.txt" 2>&1 || true
wrk -t1 -c"$CONNS" -d"${SECONDS_RATE}s" -s "$TMP/abs.lua" "http://127.0.0.1:$KP" >"$TMP/wrk-kit.txt" 2>&1 || true
node - "$TMP" <<'JS'
const fs = require('fs'), d = process.argv[2]
const runs = fs.readFileSync(`${d}/rates.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const by = {}
for (const r of runs) (by[r.name] ??= []).push(r)
const rps = (n) => med(by[n].map((r) => r.rps))
// CPU microseconds of the proxy process per request (clock ticks are 10 ms).
const cpu = (n) => med(by[n].map((r) => (r.cpu_ticks * 10000) / Math.max(1, r.ok)))
const wrk = (f) => Number(/Requests\/sec:\s*([\d.]+)/.exec(fs.readFileSync(`${d}/${f}`, 'utf8'))?.[1] ?? 0)
console.log(`request rate (keep-alive GET, ${runs[0].conns} connections, median of 3): direct http ${rps('direct-http')}/s, direct https ${rps('direct-https')}/s, tinyproxy plain ${rps('tinyproxy-plain')}/s, kit plain ${rps('kit-plain')}/s, kit MITM ${rps('kit-mitm')}/s`)
console.log(`  ratio kit MITM / tinyproxy plain = ${(rps('kit-mitm') / rps('tinyproxy-plain')).toFixed(2)} (target >= 1.00); kit plain / tinyproxy plain = ${(rps('kit-plain') / rps('tinyproxy-plain')).toFixed(2)}`)
console.log(`  proxy CPU per request: tinyproxy plain ${cpu('tinyproxy-plain').toFixed(0)} us, kit plain ${cpu('kit-plain').toFixed(0)} us, kit MITM ${cpu('kit-mitm').toFixed(0)} us (tinyproxy closes the client connection after every response: ${med(by['tinyproxy-plain'].map((r) => r.reconnects))} reconnects per run)`)
const wt = wrk('wrk-tp.txt'), wk = wrk('wrk-kit.txt')
console.log(`  wrk (absolute-form, plain): tinyproxy ${wt.toFixed(0)}/s, kit ${wk.toFixed(0)}/s, ratio kit/tinyproxy = ${(wk / wt).toFixed(2)}`)
JS

# 3. Added latency.
L="node $HERE/load.mjs"
$L direct-http --target "localhost:$HTTP" --latency 2000 >"$TMP/l-direct.json"
$L proxy-plain --proxy "127.0.0.1:$TP" --target "localhost:$HTTP" --latency 2000 >"$TMP/l-tp.json"
$L proxy-plain --proxy "127.0.0.1:$KP" --target "localhost:$HTTP" --latency 2000 >"$TMP/l-kit.json"
$L direct-https --target "localhost:$MITM" --ca "$UPCA" --latency 2000 >"$TMP/l-directs.json"
$L proxy-tls --proxy "127.0.0.1:$KP" --target "localhost:$MITM" --ca "$KITCA" --latency 2000 >"$TMP/l-kitmitm.json"
node - "$TMP" <<'JS'
const fs = require('fs'), d = process.argv[2]
const j = (f) => JSON.parse(fs.readFileSync(`${d}/${f}`, 'utf8'))
const [direct, tp, kit, ds, km] = ['l-direct.json', 'l-tp.json', 'l-kit.json', 'l-directs.json', 'l-kitmitm.json'].map(j)
const add = (x, base) => `p50 +${x.p50_us - base.p50_us} us, p99 +${x.p99_us - base.p99_us} us`
console.log(`latency (2,000 sequential GETs): direct http p50 ${direct.p50_us} us / p99 ${direct.p99_us} us; direct https p50 ${ds.p50_us} us / p99 ${ds.p99_us} us`)
console.log(`  added by tinyproxy (plain): ${add(tp, direct)}; by kit (plain): ${add(kit, direct)}; by kit (MITM, vs direct https): ${add(km, ds)}`)
console.log(`  ratio of added p50, kit plain / tinyproxy plain = ${((kit.p50_us - direct.p50_us) / Math.max(1, tp.p50_us - direct.p50_us)).toFixed(2)}`)
JS

# 4. Memory with $HOLD concurrent connections.
hold() { # PROXY_PID PROXY_PORT TARGET_PORT CA NAME
  local before after cp
  before=$(rss_kib "$1")
  node "$HERE/conns.mjs" "127.0.0.1:$2" "localhost:$3" "$HOLD" "$4" >"$TMP/hold-$5.json" &
  cp=$!
  waitfile "$TMP/hold-$5.json" held
  sleep 1
  after=$(rss_kib "$1")
  kill "$cp"; wait "$cp" 2>/dev/null || true
  echo "$5 $before $after $(jget .held <"$TMP/hold-$5.json")"
}
# Each is run twice and the second counts: the first grows the heap to its working size, so the
# second shows what the connections themselves cost.
{
  hold "$KIT_PID" "$KP" "$TUN" "$UPCA" kit-tunnel >/dev/null
  hold "$KIT_PID" "$KP" "$TUN" "$UPCA" kit-tunnel
  hold "$KIT_PID" "$KP" "$MITM" "$KITCA" kit-mitm >/dev/null
  hold "$KIT_PID" "$KP" "$MITM" "$KITCA" kit-mitm
  hold "$TP_PID" "$TP" "$TUN" "$UPCA" tinyproxy-tunnel >/dev/null
  hold "$TP_PID" "$TP" "$TUN" "$UPCA" tinyproxy-tunnel
} >"$TMP/rss.txt"
node - "$TMP/rss.txt" <<'JS'
const rows = require('fs').readFileSync(process.argv[2], 'utf8').trim().split('\n').map((l) => l.split(' '))
const r = Object.fromEntries(rows.map(([n, b, a, h]) => [n, {before: +b, after: +a, held: +h}]))
const per = (x) => ((x.after - x.before) / x.held).toFixed(1)
for (const [n, x] of Object.entries(r)) console.log(`RSS ${n}: ${(x.before / 1024).toFixed(0)} MiB idle -> ${(x.after / 1024).toFixed(0)} MiB with ${x.held} connections (${per(x)} KiB each)`)
console.log(`  ratio of RSS with connections, kit tunnel / tinyproxy tunnel = ${(r['kit-tunnel'].after / r['tinyproxy-tunnel'].after).toFixed(2)}; per-connection kit tunnel ${per(r['kit-tunnel'])} KiB, kit MITM ${per(r['kit-mitm'])} KiB, tinyproxy ${per(r['tinyproxy-tunnel'])} KiB`)
JS
