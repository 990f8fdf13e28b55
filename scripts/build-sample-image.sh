#!/usr/bin/env bash
# Builds the sample agent image (localhost/kit-shell-agent:bookworm) locally and imports it into
# kit's store, so sample-kits/shell-agent runs on a machine without a container registry:
# mmdebstrap makes a minimal Debian bookworm (minbase + bash, curl, git, CA certificates, and what
# the sample mixins install: shellcheck, nodejs) with an `agent` user (uid 1000), as a tarball,
# and `kit image import` stores it as a one-layer OCI image.
#
# Idempotent and cached: the tarball is kept (keyed by the package list) in
# $KIT_SAMPLE_IMAGE_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/kit/sample-image); the import is
# skipped when the store already holds the same image under the tag. KIT_HOME picks the store.
# Needs mmdebstrap and an apt mirror (MIRROR, default deb.debian.org); run as root or with a
# working unshare.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${KIT_SAMPLE_IMAGE_TAG:-localhost/kit-shell-agent:bookworm}
SUITE=bookworm
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PACKAGES=(bash ca-certificates curl git shellcheck nodejs)
CACHE=${KIT_SAMPLE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kit/sample-image}
VERSION=1 # bump when the recipe below changes

key=$(printf '%s\n' "$VERSION" "$SUITE" "$MIRROR" "${PACKAGES[@]}" | sha256sum | cut -c1-16)
tarball="$CACHE/kit-shell-agent-$SUITE-$key.tar"
mkdir -p "$CACHE"

if [ ! -s "$tarball" ]; then
  command -v mmdebstrap >/dev/null || { echo "build-sample-image: mmdebstrap is not installed (apt-get install mmdebstrap)" >&2; exit 1; }
  echo "build-sample-image: building $SUITE with ${PACKAGES[*]} (mmdebstrap, about a minute)" >&2
  tmp="$tarball.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  mmdebstrap --variant=minbase --quiet \
    --include="$(IFS=,; echo "${PACKAGES[*]}")" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --customize-hook='chroot "$1" useradd --create-home --uid 1000 --user-group --shell /bin/bash agent' \
    --customize-hook='rm -f "$1"/etc/hostname "$1"/etc/resolv.conf; touch "$1"/etc/resolv.conf' \
    --format=tar "$SUITE" "$tmp" "$MIRROR"
  mv "$tmp" "$tarball"
  trap - EXIT
fi

kit=bin/kit
[ -d dist ] || npx tsc -p .
digest_file="$tarball.digest"
if [ -s "$digest_file" ]; then
  want=$(cat "$digest_file")
  have=$("$kit" image ls --json | node -e '
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      const i = JSON.parse(s).images.find(i => i.reference === process.argv[1]); console.log(i ? i.digest : "")
    })' "$TAG")
  if [ "$have" = "$want" ]; then
    echo "build-sample-image: $TAG is in the store ($want)" >&2
    exit 0
  fi
fi
"$kit" image import "$tarball" --tag "$TAG" --json | node -e '
  let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log(JSON.parse(s).digest))' > "$digest_file.tmp"
mv "$digest_file.tmp" "$digest_file"
echo "build-sample-image: imported $TAG ($(cat "$digest_file"))" >&2
