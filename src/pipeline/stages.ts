/** The whole build, in order. Each stage decides for itself whether it applies to a recipe. */
import { customize } from '../stages/customize.ts'
import { extract } from '../stages/extract.ts'
import { image } from '../stages/image.ts'
import { netboot } from '../stages/netboot.ts'
import { overlay } from '../stages/overlay.ts'
import { publish } from '../stages/publish.ts'
import type { Stage } from './stage.ts'

export const STAGES: readonly Stage[] = [
  image, //    verify the sha256, decompress .xz once into the cache
  extract, //  partition table, boot files via mtools, root as a read-only loop mount
  overlay, //  the recipe's rootfs/ and bootfs/ folders, resolved inside the image
  customize, // packages, scripts, users, units: run in the image under qemu-user
  netboot, //  cmdline.txt, fstab, machine-id: a shared read-only root over NFS
  publish, //  rsync to a new build directory, switch the nodes' TFTP links, server config
]
