#!/usr/bin/env bash
# Start-up of the kit CLI: `kit --version` and `kit version` (a command that loads its module) from
# the npm package (npm pack, installed into a temporary prefix: the bundled CLI) and from the clone
# (tsc output, no bundle), against `node -e 0`, in one hyperfine run. Prints ratios to node -e 0.
# Usage: bench/cli/run.sh [RUNS]   (output in bench/out/cli-startup.json)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-40}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p bench/out
npm pack --pack-destination "$tmp" >/dev/null 2>&1
npm install -g --prefix "$tmp/prefix" --prefer-offline --no-audit --no-fund "$tmp"/kit-*.tgz >/dev/null 2>&1
npx tsc -p tsconfig.json   # the clone's dist/ back to plain tsc output (npm pack bundled it)
kit="$tmp/prefix/bin/kit"
hyperfine -N -w 5 -r "$runs" --export-json bench/out/cli-startup.json \
  -n 'node -e 0' 'node -e 0' \
  -n 'kit --version (package)' "$kit --version" \
  -n 'kit version (package)' "$kit version" \
  -n 'kit --version (clone, tsc output)' "node bin/kit --version" >/dev/null
node -e '
  const r = JSON.parse(require("fs").readFileSync("bench/out/cli-startup.json", "utf8")).results
  const base = r[0]
  for (const x of r) console.log(`${x.command.padEnd(36)} mean ${(x.mean * 1000).toFixed(0).padStart(4)} ms  median ${(x.median * 1000).toFixed(0).padStart(4)} ms  user ${(x.user * 1000).toFixed(0).padStart(4)} ms  ratio (median) ${(x.median / base.median).toFixed(2)}x  ratio (user+sys) ${((x.user + x.system) / (base.user + base.system)).toFixed(2)}x`)
'
