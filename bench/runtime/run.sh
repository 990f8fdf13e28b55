#!/usr/bin/env bash
# Runtime benchmark (qemu driver): cold start (no initramfs, no root image cached) and warm start
# to the command's first instruction, and the QEMU RSS of an idle sandbox, as ratios against
# baselines measured in the same run (bare kernel boot to poweroff; idle QEMU without a guest).
# TCG by default; KIT_VM_ACCEL=kvm for the KVM figure where /dev/kvm works. BENCH_RUNS=N (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 is not installed" >&2; exit 1; }
npx tsc -p . >/dev/null 2>&1 || true
exec node bench/runtime/bench.mjs
