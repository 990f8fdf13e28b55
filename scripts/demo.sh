#!/usr/bin/env bash
# The main job on the sample kits with the embedded default (the local store, no registry):
# validate, build reproducibly, list, inspect, export as an OCI layout that skopeo reads.
# With --run: also build the sample agent image locally and run the sample agent in a microVM, and
# (as root, with a Docker engine running) once more with the docker driver.
set -euo pipefail
cd "$(dirname "$0")/.."
kit() { bin/kit "$@"; }

echo "== validate"
kit validate sample-kits/*/
echo "== build (into ${KIT_HOME:-the default store})"
for k in sample-kits/*/; do kit build "$k"; done
echo "== ls"
kit ls
echo "== inspect shellcheck:1.0.0"
kit inspect shellcheck:1.0.0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "== export shellcheck:1.0.0 → $out/layout"
kit export shellcheck:1.0.0 --output "$out/layout"
if command -v skopeo >/dev/null; then skopeo inspect --raw "oci:$out/layout:1.0.0"; echo; fi

if [ "${1:-}" = "--run" ]; then
  echo "== run the sample agent with the node and shellcheck mixins"
  scripts/build-sample-image.sh
  mkdir -p "$out/workspace"
  kit run sample-kits/shell-agent --kit sample-kits/node --kit sample-kits/shellcheck \
    --workspace "$out/workspace" -- sh -c 'id; cat "$HOME/AGENTS.md" 2>/dev/null | head -5; ls -la'
fi

engine=${DOCKER_HOST:-unix:///var/run/docker.sock}
if [ "${1:-}" = "--run" ] && [ -S "${engine#unix://}" ] && [ "$(id -u)" = 0 ]; then
  echo "== the same agent with the docker driver (a container: it shares the host kernel)"
  mkdir -p "$out/workspace-docker" && chown 1000:1000 "$out/workspace-docker"
  kit run sample-kits/shell-agent --kit sample-kits/shellcheck --driver docker \
    --workspace "$out/workspace-docker" -- sh -c 'id; ls -la "$HOME"'
fi
