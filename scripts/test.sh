#!/usr/bin/env bash
# The test suite: installs what it needs, type-checks, then runs the test files (test/run.ts).
#
#   scripts/test.sh                  the whole suite, as CI runs it (.ci/run)
#   scripts/test.sh --wide           the whole suite and the wide tier (test/run.ts WIDE: boots on more
#                                    images, too long for CI); run it before changing what they cover
#   scripts/test.sh --quick          the quick tier, before every commit: type-check, unit and
#                                    tiny-image tests; no demo image, no QEMU boot (test/run.ts SLOW)
#   scripts/test.sh [files|folders]  some test files; any option of test/run.ts (--timeout 40m) too
#
# Demo images take minutes each to build (an hour for trixie under emulation on a busy 2-core
# machine): the tests build them into out/demo, cached there by a manifest of their inputs, and this
# script keeps finished ones in a cache of this machine too ($PIBAKE_DEMO_CACHE, default
# /var/cache/pibake/demo), so a fresh clone on the same machine starts from them. An image whose
# inputs changed does not match its manifest and is built again. The whole suite builds the missing
# ones two at a time while its tests run (a test waits for an image still being built), printing
# each one's stages as they start and end with the time since the builds began (the full output
# goes to out/demo/prebuild-<release>-<arch>.log).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$here/scripts/setup.sh"
cd "$here"
cache=${PIBAKE_DEMO_CACHE:-/var/cache/pibake/demo}
# A demo image build that takes longer than this is stuck: it is stopped (SIGTERM, on which pibake
# undoes its mounts; SIGKILL 2 minutes later) and counts as failed.
build_limit=150m

# The whole suite is a run with no test files and neither --quick nor --list; demo images only for
# runs that may use them.
whole=1 images=1
for ((i = 1; i <= $#; i++)); do
  case ${!i} in
    --quick | --list) whole=0 images=0 ;;
    --wide) ;;
    --timeout) i=$((i + 1)) ;;
    --timeout=*) ;;
    *) whole=0 ;;
  esac
done

# Copies the images whose manifest (written last by the builder) is missing or different at $2.
copy_images() {
  local from=$1 to=$2 manifest base name
  mkdir -p "$to"
  for manifest in "$from"/raspios-demo-*.manifest.json; do
    [ -e "$manifest" ] || continue
    base=${manifest%.manifest.json}
    name=$(basename "$base")
    cmp -s "$manifest" "$to/$name.manifest.json" && continue
    echo "test.sh: copying $name from $from to $to"
    rm -f "$to/$name.manifest.json"
    cp --reflink=auto "$base.img" "$base.img.xz" "$base.img.xz.sha256" "$to/" && cp "$manifest" "$to/"
  done
}
if ((images)); then
  copy_images "$cache" out/demo
  trap 'copy_images out/demo "$cache" || echo "test.sh: could not keep the demo images in $cache" >&2' EXIT
fi

echo "test.sh: type-checking (tsc)"
npx tsc -p tsconfig.json

# A line of the demo image builds' progress, with the time since they began.
say() {
  local s=$((EPOCHSECONDS - builds_began))
  printf '[%3d:%02d] %s\n' $((s / 60)) $((s % 60)) "$*"
}

# Follows one build's log until process $3 ends: prints each stage as it starts and ends, whether
# the image was reused, and the log's last line once a minute in between.
follow() {
  local spec=$1 log=$2 pid=$3 line last='' shown=$EPOCHSECONDS
  tail -n +1 -F --pid="$pid" "$log" 2>/dev/null | while :; do
    if IFS= read -r -t 60 line; then
      last=${line#*| }
      case $line in
        *'| demo image'*) line=${line#*| demo image} last='' && say "$spec: ${line#*: }" && shown=$EPOCHSECONDS && continue ;;
        'pibake: demo image (cached)'*) say "$spec: reused from the cache (its manifest matches)" && shown=$EPOCHSECONDS && continue ;;
      esac
    elif (($? <= 128)); then
      break # the build ended
    fi
    if ((EPOCHSECONDS - shown >= 60)); then
      say "$spec: … ${last:-(nothing new in its log)}"
      shown=$EPOCHSECONDS
    fi
  done
}

# Builds the demo images given as <release>-<arch>, one after the other, each logged to
# out/demo/prebuild-<release>-<arch>.log; stops at the first that fails, marking it with a .failed
# file beside its log. Each build runs in a mount namespace of its own: the test files running
# meanwhile make namespaces (unshare, ip netns exec) that would otherwise copy the build's mounts
# and keep its loop devices busy after it let them go.
prebuild() {
  local spec log started pid code
  for spec in "$@"; do
    log=out/demo/prebuild-$spec.log
    started=$EPOCHSECONDS
    say "$spec: started (log: $log)"
    timeout --kill-after=2m "$build_limit" unshare --mount --propagation private \
      node bin/pibake.js demo-image --release "${spec%-*}" --arch "${spec#*-}" --out out > "$log" 2>&1 &
    pid=$!
    follow "$spec" "$log" "$pid" &
    code=0
    wait "$pid" || code=$?
    wait $! || true # the follower ends with the build; its status says nothing about the image
    if ((code == 0)); then
      say "$spec: ready after $(((EPOCHSECONDS - started) / 60)) min $(((EPOCHSECONDS - started) % 60)) s"
      continue
    fi
    if ((code == 124)); then
      say "$spec: stopped: not done after $build_limit"
    else
      say "$spec: FAILED (exit status $code)"
    fi
    touch "out/demo/prebuild-$spec.failed"
    return 1
  done
}

if ((!whole)); then
  # Given test files build only the images they use, when they use them.
  node test/run.ts "$@"
  exit
fi

# The whole suite: the demo images its tests use are built while the tests run. From scratch a
# build spends most of its time in its packages' scripts under emulation, on one core; the tests
# start at once, the slow lane with the files that need no demo image and the trixie ones last, the
# second lane with the quick files, then the slow ones that need no image (test/run.ts), and a file that needs an image still being built waits for it (the build's lock).
# Two lanes of builds, balanced by what was measured from scratch on a machine of 2 cores: trixie
# arm64 19 min, bookworm 5 each when quiet; beside the tests (load 4–10) 60 and 23.5 min, the
# tests having the cores the builds left, so no test waited long. The trixie armhf image is only
# used by the wide tier (its files build it when they run). An image whose manifest matches is
# reused at once, so with the cache this takes seconds. If an image cannot be built, the tests are
# stopped and the run fails, with the end of that build's log.
rm -f out/demo/prebuild-*.log out/demo/prebuild-*.failed
mkdir -p out/demo
builds_began=$EPOCHSECONDS
echo "test.sh: the demo images, two at a time, while the tests run (from scratch: about 30 min here; cached: seconds)"
prebuild trixie-arm64 & lane1=$!
prebuild bookworm-arm64 bookworm-armhf & lane2=$!
node test/run.ts "$@" & tests=$!

# Stops the lanes of builds (SIGTERM to each build still running, on which pibake undoes its mounts
# and loop devices; its lane then ends, marking the build failed) and waits for them.
stop_builds() {
  local lane
  for lane in "$lane1" "$lane2"; do
    if kill -0 "$lane" 2>/dev/null; then pkill -TERM -P "$lane" 2>/dev/null || true; fi
  done
  wait "$lane1" "$lane2" 2>/dev/null || true
}
# Stops test/run.ts (SIGTERM: it stops its files' process groups) and waits for it.
stop_tests() {
  kill -TERM "$tests" 2>/dev/null || true
  wait "$tests" 2>/dev/null || true
}
# A script's background commands ignore Ctrl-C: pass it on as SIGTERM, and wait.
interrupted() {
  stop_tests
  stop_builds
  echo "test.sh: stopped" >&2
  exit 130
}
trap interrupted INT TERM

# Bash's `wait -n` misses a job that ended before it was called: look every 2 s instead.
while kill -0 "$tests" 2>/dev/null; do
  if compgen -G 'out/demo/prebuild-*.failed' > /dev/null; then
    stop_tests
    stop_builds
    trap - INT TERM
    for failed in out/demo/prebuild-*.failed; do
      echo "test.sh: a demo image could not be built, so the tests were stopped; the end of ${failed%.failed}.log:" >&2
      tail -n 40 "${failed%.failed}.log" >&2
    done
    exit 1
  fi
  sleep 2 & wait $! # a trap runs at once
done
code=0
wait "$tests" || code=$?
# Every file ran: a build still going is one no test waited for (or the run stopped early).
stop_builds
trap - INT TERM
exit "$code"
