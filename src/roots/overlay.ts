/**
 * `overlay`: the build's tree over NFS, read-only, under a tmpfs that takes every write. The boot
 * script moves the NFS root the initramfs mounted aside (to /run/pibake/lower, which stays visible
 * on the running node) and puts the overlay in its place.
 */
export const OVERLAY_LOWER = `# overlay: the NFS root the initramfs mounted is the lower layer.
lower_overlay() {
	mount -n -o move "\${rootmnt}" "$run/lower" || fail "cannot move the NFS root to $run/lower"
}
`
