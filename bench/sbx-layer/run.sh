#!/bin/sh
# Compares kit's layer with one written by sbx's documented producer rules (spec/OCI-v2.md §4.3,
# written here with Go's archive/tar and compress/gzip, as sbx is a Go program): gzip header bytes,
# tar bytes with and without kit's directory entries and exec bits, and sizes. Needs `go` (Debian's
# golang-go) and a built dist/ (npx tsc). Usage: bench/sbx-layer/run.sh KIT_DIR...
set -eu
here=$(cd "$(dirname "$0")" && pwd)
command -v go >/dev/null || { echo "sbx-layer: needs go (apt-get install golang-go)" >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$here" && GOTOOLCHAIN=local go build -o "$out/sbxlayer" .)
SBXLAYER="$out/sbxlayer" OUT="$out" node "$here/compare.mjs" "$@"
