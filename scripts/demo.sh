#!/usr/bin/env bash
# The main job on the built-in demo: builds the demo image (once; it is cached), then bakes and
# publishes recipes/cluster-node.ts under out/publish/, and says what to try next.
set -euo pipefail

# The commands that matter after the demo, as they run from the clone `here` for someone in the
# folder `start`: `pibake` when that is this clone's (scripts/setup.sh links it), else ./pibake;
# with the --out the demo's build was given, if any.
next_steps() {
  local here=$1 start=$2 pibake=./pibake out='' found
  shift 2
  if found=$(command -v pibake) && [ "$(readlink -f "$found")" = "$(readlink -f "$here/pibake")" ]; then pibake=pibake; fi
  while (($#)); do
    case $1 in
      --out) out=" --out ${2-}"; shift ;;
      --out=*) out=" --out ${1#--out=}" ;;
    esac
    shift
  done
  echo
  echo "demo: next, the fleet you just published:"
  if [ "$start" != "$here" ]; then echo "  cd $here"; fi
  printf "  %-$((${#pibake} + ${#out} + 31))s  %s\n" \
    "$pibake nodes recipes/cluster-node.ts$out" "each node's MAC, IP, model and the build it boots" \
    "$pibake serve$out" 'the site in a browser: fleets, builds, what changed' \
    "$pibake report cluster-node$out" 'its builds as one HTML file: cluster-node-report.html'
  echo "demo: and see a node boot before any Pi is plugged in: node1 under QEMU on this machine, on a"
  echo "private network with the published dnsmasq.conf and NFS exports (a few minutes):"
  echo "  $pibake try recipes/cluster-node.ts node1$out --command 'systemctl is-system-running --wait'"
}

main() {
  local here start=$PWD
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  source "$here/scripts/setup.sh"
  cd "$here"
  ./pibake demo-image --arch arm64
  ./pibake build recipes/cluster-node.ts "$@"
  next_steps "$here" "$start" "$@"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
