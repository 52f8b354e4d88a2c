#!/usr/bin/env bash
# The whole test suite: installs what it needs, type-checks, then runs every test file.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$here/scripts/setup.sh"
cd "$here"
npx tsc -p tsconfig.json
node test/run.ts "$@"
