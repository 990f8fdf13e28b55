#!/usr/bin/env bash
# Guest connection flood (issue 10, break 5): host connector processes and their memory while a
# guest holds FLOOD_CONNS (1000) connections to the proxy for FLOOD_SECONDS (30), with the cap out
# of reach (baseline, same run) and with kit's default cap. See bench/runtime/flood.mjs.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 is not installed" >&2; exit 1; }
npx tsc -p . >/dev/null 2>&1 || true
exec node bench/runtime/flood.mjs
