#!/usr/bin/env bash
# The whole test suite: installs what it needs, type-checks, then runs every test file.
#
# Demo images take minutes each to build (an hour for trixie under emulation on a busy 2-core
# machine): the tests build them into out/demo, cached there by a manifest of their inputs, and this
# script keeps finished ones in a cache of this machine too ($PIBAKE_DEMO_CACHE, default
# /var/cache/pibake/demo), so a fresh clone on the same machine starts from them. An image whose
# inputs changed does not match its manifest and is built again.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$here/scripts/setup.sh"
cd "$here"
cache=${PIBAKE_DEMO_CACHE:-/var/cache/pibake/demo}

# Copies the images whose manifest (written last by the builder) is missing or different at $2.
copy_images() {
  local from=$1 to=$2 manifest base name
  mkdir -p "$to"
  for manifest in "$from"/raspios-demo-*.manifest.json; do
    [ -e "$manifest" ] || continue
    base=${manifest%.manifest.json}
    name=$(basename "$base")
    cmp -s "$manifest" "$to/$name.manifest.json" && continue
    rm -f "$to/$name.manifest.json"
    cp --reflink=auto "$base.img" "$base.img.xz" "$base.img.xz.sha256" "$to/" && cp "$manifest" "$to/"
  done
}
copy_images "$cache" out/demo
trap 'copy_images out/demo "$cache" || echo "test.sh: could not keep the demo images in $cache" >&2' EXIT

npx tsc -p tsconfig.json
node test/run.ts "$@"
