/**
 * `squashfs`: the build as one compressed image beside its tree on the NFS server
 * (`builds/<id>.squashfs`), mounted through a loop device; the node then reads one file over NFS
 * instead of walking thousands. `nfsroot=` still names the build's tree (what the initramfs mounts,
 * and what the node's identity script reads its server and recipe from); `pibake.image=
 * <server>:<path>` names the image. The boot script mounts the image's folder over NFS instead of
 * the tree, and the image from there.
 */
export const SQUASHFS_LOWER = `# squashfs: the image on the NFS server, through a loop device.
mount_image_folder() {
	server=\${image%%:*}
	file=\${image#*:}
	case "$file" in /*) ;; *) fail "pibake.image=$image is not <server>:<absolute path>" ;; esac
	umount "\${rootmnt}" || fail "cannot let go of the build's tree"
	nfsmount -o nolock -o ro -o vers=3 "$server:\${file%/*}" "$run/nfs" || fail "cannot mount $server:\${file%/*}"
	file=$run/nfs/\${file##*/}
	[ -f "$file" ] || fail "the NFS server has no \${image#*:}"
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
