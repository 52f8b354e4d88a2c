/**
 * `ram`: as `squashfs`, but the image is copied into a tmpfs of its own size first, and the NFS
 * mount is let go: once booted, the node reads nothing from the server (programs it never ran
 * included), and keeps running when the server stops.
 */
export const RAM_LOWER = `# ram: the image copied into memory, then NFS let go.
lower_ram() {
	mount_image_folder
	size=$(busybox stat -c %s "$file") || fail "cannot read the size of \${image#*:}"
	mkdir -p "$run/image"
	mount -n -t tmpfs -o "mode=0700,size=$((size / 1024 + 1024))k" pibake-image "$run/image" || fail "cannot make a tmpfs of $size bytes for the image"
	busybox cp "$file" "$run/image/root.squashfs" || fail "cannot copy \${image#*:} into memory"
	umount "$run/nfs" || fail "cannot let go of the NFS mount"
	busybox mount -t squashfs -o ro,loop "$run/image/root.squashfs" "$run/lower" || fail "cannot mount the image copied into memory"
}
`
