#!/usr/bin/env bash
# `kit run` end to end on the sample agent (shell-agent + shellcheck + github mixins): cold start
# (fresh KIT_HOME: image imported but not unpacked, no disk image, no kit cache) and warm start
# (the same sandbox again, `kit run --name`), each to the command's first instruction (bootMs of
# --report) and to exit (wall). Ratios are against the warm start measured in the same run, and
# the CLI's own start (`kit version`) is shown as the floor. TCG unless KIT_VM_ACCEL=kvm works.
# BENCH_RUNS=N warm runs (default 3). Needs the sample image tarball (scripts/build-sample-image.sh
# builds and caches it on first use).
set -euo pipefail
cd "$(dirname "$0")/../.."
npx tsc -p . >/dev/null 2>&1 || true
RUNS=${BENCH_RUNS:-3}
work=$(mktemp -d /tmp/kit-bench-run-XXXXXX)
trap 'rm -rf "$work"' EXIT
export KIT_HOME=$work/home KIT_SECRET_STORE=file
mkdir -p "$work/ws"
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

scripts/build-sample-image.sh >/dev/null
t0=$(now); bin/kit version >/dev/null 2>&1; t1=$(now); cli_ms=$(ms "$t0" "$t1")

run() { # NAME REPORT ARGS...
  local report=$1; shift
  local a b
  a=$(now)
  bin/kit run "$@" --report "$report" -- true >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  b=$(now)
  echo "$(ms "$a" "$b") $(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).bootMs)' "$report")"
}

read -r cold_wall cold_boot < <(run "$work/cold.json" sample-kits/shell-agent --kit sample-kits/shellcheck --kit sample-kits/github --workspace "$work/ws" --name bench)
warm_walls=(); warm_boots=()
for i in $(seq 1 "$RUNS"); do
  read -r w b < <(run "$work/warm$i.json" --name bench)
  warm_walls+=("$w"); warm_boots+=("$b")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ww=$(median "${warm_walls[@]}"); wb=$(median "${warm_boots[@]}")
accel=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).accel ?? "?")' "$work/warm1.json")
ratio() { node -e 'console.log((Number(process.argv[1]) / Number(process.argv[2])).toFixed(2))' "$1" "$2"; }
echo "kit run (sample agent + 2 mixins, accel $accel, $RUNS warm runs, median)"
printf '  %-34s %8s ms   %s\n' "CLI start (kit version)" "$cli_ms" "$(ratio "$cli_ms" "$ww")x warm wall"
printf '  %-34s %8s ms   %s\n' "warm: start to first instruction" "$wb" "$(ratio "$wb" "$ww")x warm wall"
printf '  %-34s %8s ms   %s\n' "warm: start to exit (wall)" "$ww" "1.00x (baseline)"
printf '  %-34s %8s ms   %s\n' "cold: start to first instruction" "$cold_boot" "$(ratio "$cold_boot" "$wb")x warm"
printf '  %-34s %8s ms   %s\n' "cold: start to exit (wall)" "$cold_wall" "$(ratio "$cold_wall" "$ww")x warm"
