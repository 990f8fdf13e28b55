#!/usr/bin/env bash
# Installs what kit and its test suite need on a fresh Debian 12 machine: Debian packages, then npm ci
# (whose `prepare` step compiles TypeScript into dist/). Idempotent; run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  ca-certificates curl git openssl socat cpio busybox-static   # tests, initramfs, connectors
  docker-registry skopeo                                        # a real OCI registry and peer client
  qemu-system-x86 mmdebstrap xz-utils e2fsprogs                 # the microVM driver and guest images (PVH kernel, root image)
  bubblewrap perl-base golang-github-containers-common          # QEMU's seccomp confinement, the connector cap, the docker seccomp base
  docker.io iptables                                            # the docker driver (its tests start a private dockerd)
  hyperfine tinyproxy wrk apache2-utils time                    # benchmarks and baselines, htpasswd
)
missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
# The guest kernel is fetched with `apt-get download` (runtime/vm/kernel.ts): package lists are
# needed even when every package above is already installed.
if [ ${#missing[@]} -gt 0 ] || ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  $SUDO apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Debian registry package starts a system service on install; tests start their own instances.
if command -v systemctl >/dev/null 2>&1; then systemctl stop docker-registry 2>/dev/null || true; fi

# The docker driver (`kit run --driver docker`) needs a running engine. Debian's package starts none
# where there is no systemd (containers, CI): start it here, as runtime-notes describes. The tests
# use the engine that answers, else a private dockerd of their own.
# A socket left by an engine that died (a reboot without systemd) answers nothing: judge by `docker info`.
if command -v dockerd >/dev/null 2>&1 && [ "${KIT_START_DOCKERD:-1}" = 1 ] && ! docker info >/dev/null 2>&1; then
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl start docker 2>/dev/null || true
  elif [ "$(id -u)" = 0 ]; then
    pgrep -x dockerd >/dev/null || rm -f /var/run/docker.sock
    nohup dockerd >/var/log/kit-dockerd.log 2>&1 </dev/null &
    for _ in $(seq 1 50); do [ -S /var/run/docker.sock ] && break; sleep 0.2; done
    [ -S /var/run/docker.sock ] || echo "install-deps: dockerd did not start (see /var/log/kit-dockerd.log); the docker driver needs it" >&2
  fi
fi

npm ci --no-audit --no-fund
