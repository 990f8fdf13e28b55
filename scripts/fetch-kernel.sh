#!/usr/bin/env bash
# Fetches the guest kernel for the qemu driver (Debian's linux-image-*-amd64, via apt-get download)
# into $KIT_HOME/cache/kernel and builds the initramfs. Idempotent. `--rootfs` also builds the
# minimal Debian image (curl, git, ca-certificates) with mmdebstrap; `--refresh` re-checks apt.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/runtime/vm/setup.js ] || npx tsc -p .
exec node dist/runtime/vm/setup.js "$@"
