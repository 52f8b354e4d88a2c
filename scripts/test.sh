#!/usr/bin/env bash
# The whole test suite: installs what it needs, type-checks, then runs every test file.
#
# Demo images take minutes each to build (an hour for trixie under emulation on a busy 2-core
# machine): the tests build them into out/demo, cached there by a manifest of their inputs, and this
# script keeps finished ones in a cache of this machine too ($PIBAKE_DEMO_CACHE, default
# /var/cache/pibake/demo), so a fresh clone on the same machine starts from them. An image whose
# inputs changed does not match its manifest and is built again. The whole suite builds the missing
# ones first, two at a time.
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

# Builds the demo images given as <release>-<arch>, one after the other, each logged to
# out/demo/prebuild-<release>-<arch>.log; stops at the first that fails, marking it with a .failed
# file beside its log.
prebuild() {
  local spec
  for spec in "$@"; do
    node bin/pibake.js demo-image --release "${spec%-*}" --arch "${spec#*-}" --out out > "out/demo/prebuild-$spec.log" 2>&1 && continue
    touch "out/demo/prebuild-$spec.failed"
    return 1
  done
}
# For the whole suite, every demo image it uses, before the tests, two at a time: from scratch a
# build spends most of its time in its packages' scripts under emulation, on one core, so two builds
# fill two cores. The lanes are balanced by what was measured here from scratch, two builds at a
# time: trixie arm64 19 min, trixie armhf 10, bookworm 5 each. An image whose manifest matches is
# reused at once, so with the cache this takes seconds.
# Given test files build only the images they use, when they use them.
if (($# == 0)); then
  rm -f out/demo/prebuild-*.log out/demo/prebuild-*.failed
  prebuild trixie-arm64 & lane1=$!
  prebuild trixie-armhf bookworm-arm64 bookworm-armhf & lane2=$!
  # A script's background commands ignore Ctrl-C: pass it on to the builds as SIGTERM, on which
  # pibake undoes its mounts and loop devices, and wait for them.
  stop_lanes() {
    pkill -TERM -P "$lane1" || true
    pkill -TERM -P "$lane2" || true
    wait
    echo "test.sh: stopped while building the demo images" >&2
    exit 130
  }
  trap stop_lanes INT TERM
  built=0
  wait "$lane1" || built=1
  wait "$lane2" || built=1
  trap - INT TERM
  if ((built != 0)); then
    for failed in out/demo/prebuild-*.failed; do
      echo "test.sh: a demo image could not be built; the end of ${failed%.failed}.log:" >&2
      tail -n 40 "${failed%.failed}.log" >&2
    done
    exit 1
  fi
fi

node test/run.ts "$@"
