#!/usr/bin/env bash
# Trust benchmark on a local CNCF distribution registry (plain HTTP, free 127.0.0.1 port, temp root;
# distribution 2.8, so referrers go through the tag-schema fallback):
#
#   verify  `kit verify REF --key K.pub` per kit: the four sample kits and a SIZE_MB synthetic kit
#           (manifest, config and layer digests checked, then the signature), with `kit version` as
#           the CLI start-up baseline in the same hyperfine run
#   pull    `kit pull` of the synthetic kit into a fresh KIT_HOME with kit.requireSignature off
#           (baseline) and on: the ratio is the cost of verification on pull
#   lib     the same, in-process (bench/trust/lib.mjs), without CLI start-up
#
# Usage: bench/trust/run.sh [--quick]   (--quick: 5 MB synthetic kit, 3 runs)
# Needs: docker-registry, hyperfine, node. Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SIZE_MB=50
RUNS=10
if [[ "${1:-}" == "--quick" ]]; then SIZE_MB=5; RUNS=3; fi
for tool in docker-registry hyperfine node; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (scripts/install-deps.sh)"; exit 1; }
done
[[ -f dist/runtime/trust/operations.js && -f dist/cli/commands/verify.js ]] || npx tsc -p .

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kit-bench-trust.XXXXXX")
# shellcheck source=../lib/registry.sh
source bench/lib/registry.sh
cleanup() {
  stop_registry
  rm -rf "$TMP"
}
trap cleanup EXIT
export CI=1
export KIT_HOME="$TMP/publisher"
export KIT_ORG_CONFIG="$TMP/no-org.json"
export KIT_KEY_PASSWORD="bench-$RANDOM-$RANDOM"
KIT="node $ROOT/bin/kit"

registry_config "$TMP"
start_registry
echo "== registry at $HOST; runs: $RUNS; synthetic kit: $SIZE_MB MB"

$KIT key generate --output "$TMP/bench" >/dev/null
PUB="$TMP/bench.pub"

# A synthetic kit: one SIZE_MB file of base64 random text.
SYN="$TMP/synthetic"
mkdir -p "$SYN/files/home"
printf 'schemaVersion: "2"\nkind: mixin\nname: synthetic\nversion: "1.0.0"\n' >"$SYN/spec.yaml"
head -c $((SIZE_MB * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w 76 >"$SYN/files/home/data.txt"

REFS=()
for k in github node shell-agent shellcheck; do
  REFS+=("$HOST/bench/$k:1.0.0")
  $KIT push "$ROOT/sample-kits/$k" "$HOST/bench/$k:1.0.0" --force >/dev/null
done
REFS+=("$HOST/bench/synthetic:1.0.0")
$KIT push "$SYN" "$HOST/bench/synthetic:1.0.0" >/dev/null
for r in "${REFS[@]}"; do $KIT sign "$r" --key "$TMP/bench.key" >/dev/null; done

echo "== kit verify per kit (hyperfine, $RUNS runs; kit version = CLI start-up baseline)"
CMDS=(-n "kit version" "$KIT version")
for r in "${REFS[@]}"; do CMDS+=(-n "verify ${r#*/bench/}" "$KIT verify $r --key $PUB"); done
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$TMP/verify.json" "${CMDS[@]}" >/dev/null
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results
  const base = r[0].median
  for (const x of r) console.log(`${x.command.padEnd(28)} ${(x.median * 1000).toFixed(0).padStart(6)} ms  (${(x.median / base).toFixed(2)}x kit version, +${((x.median - base) * 1000).toFixed(0)} ms)`)
' "$TMP/verify.json"

echo "== kit pull of the $SIZE_MB MB kit into a fresh KIT_HOME: kit.requireSignature off vs on"
mkdir -p "$TMP/off" "$TMP/on"
printf '{"kit.requireSignature": false}\n' >"$TMP/off.json"
printf '{"kit.requireSignature": true, "kit.trustedSigners": [{"key": "%s"}]}\n' "$PUB" >"$TMP/on.json"
SYNREF="$HOST/bench/synthetic:1.0.0"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$TMP/pull.json" \
  --prepare "bash -c 'rm -rf $TMP/off/home && mkdir -p $TMP/off/home && cp $TMP/off.json $TMP/off/home/config.json'" \
  -n "pull (no verification)" "env KIT_HOME=$TMP/off/home $KIT pull $SYNREF" \
  --prepare "bash -c 'rm -rf $TMP/on/home && mkdir -p $TMP/on/home && cp $TMP/on.json $TMP/on/home/config.json'" \
  -n "pull (kit.requireSignature)" "env KIT_HOME=$TMP/on/home $KIT pull $SYNREF" >/dev/null
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results
  for (const x of r) console.log(`${x.command.padEnd(28)} ${(x.median * 1000).toFixed(0).padStart(6)} ms`)
  console.log(`ratio with/without verification: ${(r[1].median / r[0].median).toFixed(3)}`)
' "$TMP/pull.json"
# The pull with the policy on must have refused nothing and stored the signature with the kit.
env KIT_HOME="$TMP/on/home" $KIT verify "$SYNREF" --key "$PUB" --local >/dev/null && echo "(signature present in the pulling store: ok)"

echo "== in-process (no CLI start-up)"
node bench/trust/lib.mjs "$RUNS" "$PUB" "${REFS[@]}"
