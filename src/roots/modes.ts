/**
 * The root modes (`netboot.root`) and, in one table, what each needs: which kernel modules the
 * initramfs must carry, whether the initramfs is rebuilt with pibake's boot script, whether publish
 * ships the build as a squashfs image beside its tree, whether that image is copied into RAM, and
 * whether the fstab keeps the tmpfs folders of a read-only root. Each mode's boot-time part is its
 * own module (overlay.ts, squashfs.ts, ram.ts); `nfs` has none: it is the root as it always was.
 */
export const ROOT_MODES = ['nfs', 'overlay', 'squashfs', 'ram'] as const

export type RootMode = (typeof ROOT_MODES)[number]

export interface RootNeeds {
  /** Kernel modules the initramfs loads before it mounts the root. */
  readonly modules: readonly string[]
  /** The initramfs is rebuilt with pibake's boot script (scripts/nfs-bottom/pibake-root). */
  readonly initramfs: boolean
  /** Publish writes the build as one squashfs image beside its tree; the node mounts that. */
  readonly image: boolean
  /** The node copies the image into RAM and lets go of NFS. */
  readonly ram: boolean
  /** The root is read-only: the folders a running system writes to are each a tmpfs (fstab). */
  readonly tmpfsFolders: boolean
}

export const ROOT_NEEDS: Readonly<Record<RootMode, RootNeeds>> = {
  nfs: { modules: [], initramfs: false, image: false, ram: false, tmpfsFolders: true },
  overlay: { modules: ['overlay'], initramfs: true, image: false, ram: false, tmpfsFolders: false },
  squashfs: { modules: ['overlay', 'squashfs', 'loop'], initramfs: true, image: true, ram: false, tmpfsFolders: false },
  ram: { modules: ['overlay', 'squashfs', 'loop'], initramfs: true, image: true, ram: true, tmpfsFolders: false },
}

/** The recipe's mode; a recipe without `netboot.root` has today's read-only NFS root. */
export function rootMode(netboot: { readonly root?: RootMode | undefined }): RootMode {
  return netboot.root ?? 'nfs'
}

export function rootNeeds(netboot: { readonly root?: RootMode | undefined }): RootNeeds {
  return ROOT_NEEDS[rootMode(netboot)]
}
