/**
 * The initramfs-tools files of the root modes, as text: a hook that puts the modules and busybox
 * in the initramfs, and a boot script (scripts/nfs-bottom/pibake-root) that runs after the
 * initramfs has mounted `nfsroot=` on `${rootmnt}`. The command line says what to do:
 * `pibake.root=<mode>` (set by the netboot stage) and, for an image, `pibake.image=<server>:<path>`
 * (set by publish: the build's image beside its tree). Each mode brings its lower layer
 * (overlay.ts, squashfs.ts, ram.ts); every mode puts a tmpfs on top, so that all of `/` is writable
 * and every write is gone at the next boot.
 */
import { ROOT_NEEDS } from './modes.ts'
import { OVERLAY_LOWER } from './overlay.ts'
import { RAM_LOWER } from './ram.ts'
import { SQUASHFS_LOWER } from './squashfs.ts'

export const BOOT_SCRIPT_PATH = '/etc/initramfs-tools/scripts/nfs-bottom/pibake-root'
export const HOOK_PATH = '/etc/initramfs-tools/hooks/pibake-root'

/** Every module any mode needs: one initramfs serves the mode the command line names. */
export const ROOT_MODULES: readonly string[] = [...new Set(Object.values(ROOT_NEEDS).flatMap((needs) => needs.modules))]

export const HOOK_SCRIPT = `#!/bin/sh
# pibake: what the boot script of the root modes needs in the initramfs (netboot.root).
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
manual_add_modules ${ROOT_MODULES.join(' ')}
# mount -o loop, stat and cp: klibc has none of them.
copy_exec /bin/busybox /bin/busybox
`

export const BOOT_SCRIPT = `#!/bin/sh
# pibake: the node's root as the recipe's netboot.root says (overlay, squashfs, ram), set up once
# the initramfs has mounted nfsroot= on \${rootmnt}: a lower layer, and a tmpfs over it that takes
# every write. With pibake.root absent (or nfs) it does nothing.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /scripts/functions

rootmnt=\${rootmnt:-/root}
run=/run/pibake
mode=
image=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	pibake.root=*) mode=\${arg#pibake.root=} ;;
	pibake.image=*) image=\${arg#pibake.image=} ;;
	esac
done
case "$mode" in '' | nfs) exit 0 ;; esac

fail() {
	panic "pibake: netboot.root $mode: $*"
	exit 1
}

${OVERLAY_LOWER}
${SQUASHFS_LOWER}
${RAM_LOWER}
case "$mode" in
overlay) modules="${ROOT_NEEDS.overlay.modules.join(' ')}" ;;
squashfs) modules="${ROOT_NEEDS.squashfs.modules.join(' ')}" ;;
ram) modules="${ROOT_NEEDS.ram.modules.join(' ')}" ;;
*) fail "unknown mode (pibake.root=overlay, squashfs or ram)" ;;
esac
[ -n "$image" ] || [ "$mode" = overlay ] || fail "no pibake.image=<server>:<path> on the kernel command line"
for module in $modules; do
	modprobe "$module" || fail "cannot load the $module module"
done

mkdir -p "$run/lower" "$run/nfs" "$run/rw"
lower_$mode
mount -n -t tmpfs -o mode=0755 pibake-rw "$run/rw" || fail "cannot make the tmpfs for the writes"
mkdir -p "$run/rw/upper" "$run/rw/work"
mount -n -t overlay -o "lowerdir=$run/lower,upperdir=$run/rw/upper,workdir=$run/rw/work" pibake-root "\${rootmnt}" || fail "cannot mount the overlay on \${rootmnt}"
exit 0
`
