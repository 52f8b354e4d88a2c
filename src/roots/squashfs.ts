/**
 * `squashfs`: the build as one compressed image beside its tree on the NFS server
 * (`builds/<id>.squashfs`), mounted through a loop device; the node then reads one file over NFS
 * instead of walking thousands. `nfsroot=` still names the build's tree (what the initramfs mounts,
 * and what the node's identity script reads its server and recipe from); `pibake.image=
 * <server>:<path>` names the image. The boot script mounts the image's folder over NFS instead of
 * the tree, and the image from there.
 */

/**
 * How the initramfs mounts the image's folder (klibc nfsmount): NFSv3 read-only without locks, as
 * the root always was; reads of up to 1 MiB (the server may offer less); no close-to-open checks
 * and attributes kept for an hour, since a build's image never changes under its name.
 */
export const IMAGE_MOUNT_OPTIONS = ['nolock', 'ro', 'vers=3', 'rsize=1048576', 'nocto', 'acregmin=3600', 'acregmax=3600', 'acdirmin=3600', 'acdirmax=3600'] as const

/** The read-ahead of the image's folder, in KiB. */
export const IMAGE_READ_AHEAD_KB = 4096

export const SQUASHFS_LOWER = `# squashfs: the image on the NFS server, through a loop device.
mount_image_folder() {
	server=\${image%%:*}
	file=\${image#*:}
	case "$file" in /*) ;; *) fail "pibake.image=$image is not <server>:<absolute path>" ;; esac
	umount "\${rootmnt}" || fail "cannot let go of the build's tree"
	nfsmount ${IMAGE_MOUNT_OPTIONS.map((option) => `-o ${option}`).join(' ')} "$server:\${file%/*}" "$run/nfs" || fail "cannot mount $server:\${file%/*}"
	image_read_ahead
	file=$run/nfs/\${file##*/}
	[ -f "$file" ] || fail "the NFS server has no \${image#*:}"
}
# The image is read in pieces of up to ${IMAGE_READ_AHEAD_KB} KiB: the NFS client's own read-ahead
# (128 KiB) split its 1 MiB blocks, and a copy into RAM, into thousands of READ calls. A mount's
# read-ahead is its bdi's, named by the mount's device number; a file opened later takes it.
image_read_ahead() {
	dev=
	while read -r _ _ number _ point _; do
		[ "$point" = "$run/nfs" ] && dev=$number
	done </proc/self/mountinfo
	# Not fatal: the image is then read as it was before, in more, smaller calls.
	[ -n "$dev" ] && echo ${IMAGE_READ_AHEAD_KB} >"/sys/class/bdi/$dev/read_ahead_kb" || log_warning_msg "pibake: cannot raise the read-ahead of $run/nfs (device \${dev:-unknown})"
}
lower_squashfs() {
	mount_image_folder
	busybox mount -t squashfs -o ro,loop "$file" "$run/lower" || fail "cannot mount \${image#*:}"
}
`

/** The image of a published build, beside its tree: `builds/<id>.squashfs`. */
export function imageName(id: string): string {
  return `${id}.squashfs`
}
