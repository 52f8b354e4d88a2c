#!/usr/bin/env bash
# Puts this clone's ./pibake on PATH: links LINK (default /usr/local/bin/pibake) to it when that path
# is free or already leads here, and never replaces anything else there. Says what it did; a link it
# could not make is not an error (./pibake works without it). Run by scripts/setup.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=$here/pibake
link=${1:-/usr/local/bin/pibake}

if [ -L "$link" ] && [ "$(readlink -f "$link")" = "$(readlink -f "$target")" ]; then
  echo "setup: $link already runs $target" >&2
elif [ -L "$link" ]; then
  echo "setup: $link links to $(readlink "$link"), not to this clone: left alone; run $target, or replace the link yourself: ln -sfn $target $link" >&2
elif [ -e "$link" ]; then
  echo "setup: $link exists and is not this clone's: left alone; run $target instead" >&2
elif ln -s "$target" "$link" 2>/dev/null; then
  echo "setup: linked $link to $target: pibake runs from any folder" >&2
else
  echo "setup: could not create $link (as root: ln -s $target $link); run $target instead" >&2
fi
