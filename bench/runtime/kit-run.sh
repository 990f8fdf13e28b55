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

# The running sandbox: idle memory (the `kit run` process with its proxy, QEMU and the connectors:
# what `kit stats` counts) and `kit exec` into it, against `kit version` (the CLI's floor) and a
# fresh `kit run` (what `kit exec` cost before it could reach a running VM).
bin/kit run --name bench -- sh -c 'while [ ! -e /workspace/.bench-stop ]; do sleep 0.2; done' >/dev/null 2>"$work/idle.err" &
owner=$!
for i in $(seq 1 600); do
  [ -S "$KIT_HOME/sandboxes/bench/control.sock" ] && bin/kit exec bench -- true >/dev/null 2>&1 && break
  kill -0 "$owner" 2>/dev/null || { cat "$work/idle.err" >&2; exit 1; }
  sleep 0.2
done
sleep 5 # settle: the guest is idle, the agent's command waits
bin/kit stats bench --json > "$work/stats.json"
read -r total_kib qemu_kib node_kib < <(node -e '
  const fs = require("fs")
  const s = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).process
  const rss = (p) => { try { return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, "utf8"))[1]) } catch { return 0 } }
  const comm = (p) => { try { return fs.readFileSync(`/proc/${p}/comm`, "utf8").trim() } catch { return "" } }
  let q = 0, n = 0
  for (const p of s.pids) { if (comm(p).startsWith("qemu-system")) q += rss(p); else if (comm(p) === "node") n += rss(p) }
  console.log(Math.round(s.rssBytes / 1024), q, n)' "$work/stats.json")
exec_json=$work/exec.json
hyperfine --runs "$((RUNS + 2))" --warmup 1 --export-json "$exec_json" -N 'bin/kit version' 'bin/kit exec bench -- true' >/dev/null 2>&1
read -r floor_ms exec_ms < <(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results
  console.log((r[0].median * 1000).toFixed(0), (r[1].median * 1000).toFixed(0))' "$exec_json")
touch "$work/ws/.bench-stop"
wait "$owner" || true
echo "running sandbox (idle), and kit exec into it"
printf '  %-34s %8s MiB  %s\n' "idle: kit stats RSS (all)" "$((total_kib / 1024))" "1.00x (baseline)"
printf '  %-34s %8s MiB  %s\n' "idle: QEMU RSS" "$((qemu_kib / 1024))" "$(ratio "$qemu_kib" "$total_kib")x"
printf '  %-34s %8s MiB  %s\n' "idle: kit run + proxy RSS (node)" "$((node_kib / 1024))" "$(ratio "$node_kib" "$total_kib")x"
printf '  %-34s %8s ms   %s\n' "kit exec NAME -- true (median)" "$exec_ms" "$(ratio "$exec_ms" "$floor_ms")x kit version; $(ratio "$exec_ms" "$ww")x a warm kit run"
printf '  %-34s %8s ms\n' "kit version (median)" "$floor_ms"
