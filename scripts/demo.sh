#!/usr/bin/env bash
# The main job on the built-in demo: builds the demo image (once; it is cached), then bakes and
# publishes recipes/cluster-node.ts under out/publish/.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$here/scripts/setup.sh"
cd "$here"
node bin/pibake.js demo-image --arch arm64
node bin/pibake.js build recipes/cluster-node.ts "$@"
