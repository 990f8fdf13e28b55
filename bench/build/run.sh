#!/usr/bin/env bash
# Build benchmark: `kit build` against a shell baseline measured in the same run.
#
#   baseline = tar (sorted names, fixed mtime and owner) | gzip -9 | sha256sum   over the kit's files/
#   kit      = bin/kit build DIR --json  (validate, layer, config, manifest, store; fresh store each run)
#
# Kits: every sample-kits/* and a synthetic kit generated here (10,000 text files, 100 MB).
# Also the CLI's start-up time (`bin/kit --version`) against a bare `node -e 0`.
# Prints the ratios; the target is kit/baseline <= 1.3 on the synthetic kit.
#
# Usage: bench/build/run.sh [--quick] [--synthetic-only]   (--quick: 1,000 files / 10 MB, 3 rounds)
# Needs: hyperfine, node, GNU tar, gzip, sha256sum. Writes only under a temp dir (and bench/out/).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

FILES=10000
BYTES=$((100 * 1024 * 1024))
RUNS=5
SAMPLES=1
for arg in "$@"; do
  case $arg in
    --quick) FILES=1000; BYTES=$((10 * 1024 * 1024)); RUNS=3 ;;
    --synthetic-only) SAMPLES=0 ;;
    *) echo "usage: $0 [--quick] [--synthetic-only]"; exit 2 ;;
  esac
done

command -v hyperfine >/dev/null || { echo "hyperfine is not installed (scripts/install-deps.sh)"; exit 1; }
[[ -f dist/kit-compiler/build.js ]] || npx tsc -p .

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kit-bench-build.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
OUT="$ROOT/bench/out/build"
mkdir -p "$OUT"
export KIT_HOME="$TMP/home"
unset SOURCE_DATE_EPOCH

echo "== generating the synthetic kit ($FILES files, $((BYTES / 1024 / 1024)) MB)"
mkdir -p "$TMP/synthetic"
node bench/build/gen-synthetic.mjs "$TMP/synthetic" "$FILES" "$BYTES"

# The baseline for a kit: the same bytes through tar | gzip -9 | sha256sum.
baseline() {
  local kit=$1 parts=()
  [[ -d "$kit/files/home" ]] && parts+=(home)
  [[ -d "$kit/files/workspace" ]] && parts+=(workspace)
  if [[ ${#parts[@]} -eq 0 ]]; then
    echo "tar --sort=name --mtime=@0 --owner=1000 --group=1000 --numeric-owner -cf - -T /dev/null | gzip -9 -n | sha256sum"
  else
    echo "tar --sort=name --mtime=@0 --owner=1000 --group=1000 --numeric-owner -C '$kit/files' -cf - ${parts[*]} | gzip -9 -n | sha256sum"
  fi
}

# mean (s) of command N in a hyperfine JSON export
mean() { node -e 'const r=require(process.argv[1]).results;console.log(r[+process.argv[2]].mean.toFixed(4))' "$1" "$2"; }
ratio() { node -e 'console.log((+process.argv[1] / +process.argv[2]).toFixed(2))' "$1" "$2"; }

declare -a SUMMARY=()

bench_kit() {
  local label=$1 kit=$2 runs=$3 warmup=$4
  local json="$OUT/$label.json"
  echo "== $label"
  hyperfine --style basic --warmup "$warmup" --runs "$runs" --export-json "$json" \
    --prepare "rm -rf '$KIT_HOME'" \
    -n baseline "$(baseline "$kit")" \
    -n "kit build" "'$ROOT/bin/kit' build '$kit' --tag bench-$label:latest --json"
  local b k
  b=$(mean "$json" 0)
  k=$(mean "$json" 1)
  SUMMARY+=("$(printf '%-22s baseline %8.3fs   kit build %8.3fs   ratio %sx' "$label" "$b" "$k" "$(ratio "$k" "$b")")")
}

echo "== start-up"
hyperfine --style basic --warmup 2 --runs 10 --export-json "$OUT/startup.json" \
  -n "node -e 0" "node -e 0" \
  -n "kit --version" "'$ROOT/bin/kit' --version"
NODE0=$(mean "$OUT/startup.json" 0)
START=$(mean "$OUT/startup.json" 1)

for kit in sample-kits/*/; do
  ((SAMPLES)) || break
  kit=${kit%/}
  [[ -f "$kit/spec.yaml" || -f "$kit/spec.yml" ]] || continue
  bench_kit "$(basename "$kit")" "$ROOT/$kit" 10 2
done
# The synthetic kit takes seconds a run, long enough for the machine's load to drift between
# hyperfine's block of baseline runs and its block of kit runs. So it is measured in rounds: each
# round runs both once (hyperfine, one run each, in alternating order) and gives a paired ratio;
# the summary prints the median of those ratios beside the means.
bench_synthetic() {
  local kit=$TMP/synthetic ratios=() b_sum=0 k_sum=0 bc_sum=0 kc_sum=0
  echo "== synthetic ($RUNS rounds, warm-up first)"
  eval "$(baseline "$kit")" >/dev/null
  "$ROOT/bin/kit" build "$kit" --tag bench-synthetic:latest --json >/dev/null
  for ((i = 1; i <= RUNS; i++)); do
    local json="$OUT/synthetic-$i.json" order=(baseline kit)
    ((i % 2 == 0)) && order=(kit baseline)
    local cmds=()
    for c in "${order[@]}"; do
      if [[ $c == baseline ]]; then cmds+=(-n baseline "$(baseline "$kit")")
      else cmds+=(-n "kit build" "'$ROOT/bin/kit' build '$kit' --tag bench-synthetic:latest --json"); fi
    done
    hyperfine --style basic --runs 1 --prepare "rm -rf '$KIT_HOME'" --export-json "$json" "${cmds[@]}" >/dev/null 2>&1
    local b k
    b=$(node -e 'const r=require(process.argv[1]).results;console.log(r.find(x=>x.command==="baseline").mean.toFixed(4))' "$json")
    k=$(node -e 'const r=require(process.argv[1]).results;console.log(r.find(x=>x.command==="kit build").mean.toFixed(4))' "$json")
    local bc kc
    bc=$(node -e 'const r=require(process.argv[1]).results.find(x=>x.command==="baseline");console.log((r.user+r.system).toFixed(4))' "$json")
    kc=$(node -e 'const r=require(process.argv[1]).results.find(x=>x.command==="kit build");console.log((r.user+r.system).toFixed(4))' "$json")
    bc_sum=$(node -e 'console.log(+process.argv[1] + +process.argv[2])' "$bc_sum" "$bc")
    kc_sum=$(node -e 'console.log(+process.argv[1] + +process.argv[2])' "$kc_sum" "$kc")
    ratios+=("$(ratio "$k" "$b")")
    b_sum=$(node -e 'console.log(+process.argv[1] + +process.argv[2])' "$b_sum" "$b")
    k_sum=$(node -e 'console.log(+process.argv[1] + +process.argv[2])' "$k_sum" "$k")
    printf '  round %d: baseline %7.3fs  kit build %7.3fs  ratio %sx   CPU (user+sys) %6.2fs vs %6.2fs  (load %s)\n' \
      "$i" "$b" "$k" "${ratios[-1]}" "$bc" "$kc" "$(cut -d' ' -f1 /proc/loadavg)"
  done
  local median
  median=$(node -e 'const a=process.argv.slice(1).map(Number).sort((x,y)=>x-y);console.log(a[Math.floor(a.length/2)].toFixed(2))' "${ratios[@]}")
  SUMMARY+=("$(printf '%-22s baseline %8.3fs   kit build %8.3fs   ratio %sx (median of %d paired rounds: %s)' synthetic \
    "$(node -e 'console.log(process.argv[1]/process.argv[2])' "$b_sum" "$RUNS")" "$(node -e 'console.log(process.argv[1]/process.argv[2])' "$k_sum" "$RUNS")" \
    "$median" "$RUNS" "${ratios[*]}")")
  SUMMARY+=("$(printf '%-22s baseline %8.3fs   kit build %8.3fs   ratio %sx (CPU time, user+sys, all threads and children)' "synthetic CPU" \
    "$(node -e 'console.log(process.argv[1]/process.argv[2])' "$bc_sum" "$RUNS")" "$(node -e 'console.log(process.argv[1]/process.argv[2])' "$kc_sum" "$RUNS")" \
    "$(ratio "$kc_sum" "$bc_sum")")")
}
bench_synthetic

echo
echo "== summary (means; ratio = kit / baseline in the same run; target for the synthetic kit: <= 1.3x)"
printf '%-22s node -e 0 %7.3fs   kit --version %7.3fs   ratio %sx\n' "start-up" "$NODE0" "$START" "$(ratio "$START" "$NODE0")"
for line in "${SUMMARY[@]}"; do echo "$line"; done
echo "(sample kits are tiny: their kit build time is mostly the CLI's start-up, $START s)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
echo "JSON: $OUT"
