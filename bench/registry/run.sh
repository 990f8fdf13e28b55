#!/usr/bin/env bash
# Registry benchmark, against skopeo measured in the same run, on a local CNCF distribution
# registry (docker-registry serve, plain HTTP, a free 127.0.0.1 port, temp root):
#
#   push   kit push STORE-REF HOST/bench/kit-N:1.0.0          vs  skopeo copy oci:EXPORT:1.0.0 docker://HOST/bench/sko-N:1.0.0
#   pull   kit pull HOST/bench/kit-N:1.0.0 (fresh KIT_HOME)    vs  skopeo copy docker://HOST/bench/sko-N:1.0.0 oci:FRESH:1.0.0
#          of a 200 MB kit (one 200 MB file of base64 random text: a ~150 MB layer), each into a new repository so nothing is skipped;
#          median of RUNS runs; ratio kit/skopeo (target <= 1.0)
#   no-op  bytesUploaded of a second `kit push` of the same content (target 0)
#   also   the same push/pull in-process (bench/registry/lib.mjs) and `kit version`, to separate
#          transfer time from the CLI's start-up
#   RSS    peak RSS (/usr/bin/time -v) of `kit pull` of a 1 GB image, and of skopeo doing the same
#
# Usage: bench/registry/run.sh [--quick]   (--quick: 50 MB / 256 MB, 1 run)
# Needs: docker-registry, skopeo, node, /usr/bin/time. Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

KIT_MB=200
BIG_MB=1024
RUNS=3
if [[ "${1:-}" == "--quick" ]]; then KIT_MB=50; BIG_MB=256; RUNS=1; fi

for tool in docker-registry skopeo /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (scripts/install-deps.sh)"; exit 1; }
done
[[ -f dist/registry-client/index.js && -f dist/cli/commands/push.js ]] || npx tsc -p .

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kit-bench-registry.XXXXXX")
# shellcheck source=../lib/registry.sh
source bench/lib/registry.sh
cleanup() {
  stop_registry
  rm -rf "$TMP"
}
trap cleanup EXIT
export CI=1
KIT="node ${KIT_BIN:-$ROOT/bin/kit}"   # KIT_BIN: another build of the CLI to compare

# ---- a registry of our own --------------------------------------------------------------------
registry_config "$TMP"
start_registry
echo "== registry at $HOST"

# ---- the 200 MB kit ---------------------------------------------------------------------------
KITDIR="$TMP/bench-kit"
mkdir -p "$KITDIR/files/home"
cat >"$KITDIR/spec.yaml" <<'EOF'
schemaVersion: "2"
kind: mixin
name: bench
version: "1.0.0"
description: A benchmark kit with one large incompressible file.
EOF
# files/ holds text only: base64 of random bytes (gzip gets it down to about 3/4).
head -c $((KIT_MB * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w 100 >"$KITDIR/files/home/blob.txt"
export KIT_HOME="$TMP/home-push"
$KIT build "$KITDIR" --tag bench:1.0.0 --json >"$TMP/build.json"
$KIT export bench:1.0.0 --output "$TMP/export" >/dev/null
echo "== built a ${KIT_MB} MB kit: $(node -e 'console.log(require(process.argv[1]).digest)' "$TMP/build.json")"

elapsed() { # seconds of one run of "$@"
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  node -e 'console.log((+process.argv[2] - +process.argv[1]).toFixed(3))' "$start" "$end"
}
median() { node -e 'const a=process.argv.slice(1).map(Number).sort((x,y)=>x-y);console.log(a[Math.floor(a.length/2)].toFixed(3))' "$@"; }
ratio() { node -e 'console.log((+process.argv[1] / +process.argv[2]).toFixed(2))' "$1" "$2"; }

kit_push=() kit_pull=() sko_push=() sko_pull=() lib_push=() lib_pull=()
for i in $(seq "$RUNS"); do
  # A fresh registry each run: skopeo remembers where it saw a blob and would mount it from there.
  start_registry
  kit_push+=("$(KIT_HOME="$TMP/home-push" elapsed $KIT push bench:1.0.0 "$HOST/bench/kit-$i:1.0.0" --json)")
  sko_push+=("$(elapsed skopeo copy -q --dest-tls-verify=false "oci:$TMP/export:1.0.0" "docker://$HOST/bench/sko-$i:1.0.0")")
  rm -rf "$TMP/home-pull" "$TMP/sko-pull"
  kit_pull+=("$(KIT_HOME="$TMP/home-pull" elapsed $KIT pull "$HOST/bench/kit-$i:1.0.0" --json)")
  sko_pull+=("$(elapsed skopeo copy -q --src-tls-verify=false "docker://$HOST/bench/sko-$i:1.0.0" "oci:$TMP/sko-pull:1.0.0")")
  lib_push+=("$(node bench/registry/lib.mjs push "$TMP/home-push/store" bench:1.0.0 "$HOST/bench/lib-$i:1.0.0")")
  rm -rf "$TMP/lib-pull"
  lib_pull+=("$(node bench/registry/lib.mjs pull "$HOST/bench/lib-$i:1.0.0" "$TMP/lib-pull")")
  echo "   run $i: push kit ${kit_push[-1]}s library ${lib_push[-1]}s skopeo ${sko_push[-1]}s; pull kit ${kit_pull[-1]}s library ${lib_pull[-1]}s skopeo ${sko_pull[-1]}s"
done
KP=$(median "${kit_push[@]}"); SP=$(median "${sko_push[@]}")
KL=$(median "${kit_pull[@]}"); SL=$(median "${sko_pull[@]}")
LP=$(median "${lib_push[@]}"); LL=$(median "${lib_pull[@]}")
START=()
for _ in $(seq "$RUNS"); do START+=("$(elapsed $KIT version)"); done
ST=$(median "${START[@]}")

NOOP=$(KIT_HOME="$TMP/home-push" $KIT push bench:1.0.0 "$HOST/bench/kit-$RUNS:1.0.0" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).bytesUploaded))')

# ---- peak RSS of a 1 GB pull ------------------------------------------------------------------
# An OCI image layout with one uncompressed 1 GB layer, put in the registry with skopeo.
BIG="$TMP/big"
mkdir -p "$BIG/blobs/sha256"
head -c $((BIG_MB * 1024 * 1024)) /dev/urandom >"$BIG/layer"
LAYER_HEX=$(sha256sum "$BIG/layer" | cut -d' ' -f1)
mv "$BIG/layer" "$BIG/blobs/sha256/$LAYER_HEX"
node - "$BIG" "$LAYER_HEX" $((BIG_MB * 1024 * 1024)) <<'EOF'
const fs = require('fs'), crypto = require('crypto'), [dir, hex, size] = process.argv.slice(2)
const put = (obj) => { const b = Buffer.from(JSON.stringify(obj)); const h = crypto.createHash('sha256').update(b).digest('hex'); fs.writeFileSync(`${dir}/blobs/sha256/${h}`, b); return {digest: 'sha256:' + h, size: b.length} }
const config = put({architecture: 'amd64', os: 'linux', rootfs: {type: 'layers', diff_ids: ['sha256:' + hex]}, config: {}})
const manifest = put({schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: {mediaType: 'application/vnd.oci.image.config.v1+json', ...config},
  layers: [{mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: 'sha256:' + hex, size: +size}]})
fs.writeFileSync(`${dir}/oci-layout`, '{"imageLayoutVersion":"1.0.0"}')
fs.writeFileSync(`${dir}/index.json`, JSON.stringify({schemaVersion: 2, manifests: [{mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: {'org.opencontainers.image.ref.name': '1'}}]}))
EOF
skopeo copy -q --dest-tls-verify=false "oci:$BIG:1" "docker://$HOST/bench/big:1"
rm -rf "$BIG"
rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}'; }
KIT_RSS=$(KIT_HOME="$TMP/home-big" rss $KIT pull "$HOST/bench/big:1" --json)
rm -rf "$TMP/home-big"
IDLE_RSS=$(rss $KIT version)
SKO_RSS=$(rss skopeo copy -q --src-tls-verify=false "docker://$HOST/bench/big:1" "oci:$TMP/sko-big:1")
rm -rf "$TMP/sko-big"

echo
echo "== results (${KIT_MB} MB kit, median of $RUNS; ${BIG_MB} MB image for RSS)"
printf '%-34s %10s %10s %8s\n' "" kit skopeo ratio
printf '%-34s %9ss %9ss %7sx\n' "push ${KIT_MB} MB (new repository)" "$KP" "$SP" "$(ratio "$KP" "$SP")"
printf '%-34s %9ss %9ss %7sx\n' "pull ${KIT_MB} MB (empty store)" "$KL" "$SL" "$(ratio "$KL" "$SL")"
printf '%-34s %9ss %9ss %7sx\n' "push, in-process (no CLI start-up)" "$LP" "$SP" "$(ratio "$LP" "$SP")"
printf '%-34s %9ss %9ss %7sx\n' "pull, in-process (no CLI start-up)" "$LL" "$SL" "$(ratio "$LL" "$SL")"
printf '%-34s %9ss\n' "CLI start-up (kit version)" "$ST"
printf '%-34s %10s\n' "bytes uploaded, second push" "$NOOP"
printf '%-34s %8sMB %8sMB %7sx\n' "peak RSS, pull ${BIG_MB} MB" "$((KIT_RSS / 1024))" "$((SKO_RSS / 1024))" "$(ratio "$KIT_RSS" "$SKO_RSS")"
printf '%-34s %8sMB\n' "peak RSS, kit version (idle CLI)" "$((IDLE_RSS / 1024))"
