/**
 * What the root modes add to a node's kernel command line, read by the initramfs boot script
 * (script.ts): `pibake.root=<mode>` in every node's command line (the netboot stage writes it into
 * cmdline.txt), and for a mode with an image the build's image, `pibake.image=<server>:<path>`
 * (publish writes it per build, beside `nfsroot=`, which names the build's tree in every mode).
 */
import { dirname, join } from 'node:path'
import { rootNeeds, type RootMode } from './modes.ts'
import { imageName } from './squashfs.ts'

/** The image's part: nothing for `nfs`, whose command line is as it always was. */
export function rootCmdline(mode: RootMode): string[] {
  return mode === 'nfs' ? [] : [`pibake.root=${mode}`]
}

/** A build's arguments (`buildDir` is `<nfs>/<recipe>/builds/<id>` on `server`): its image's, for a mode with one. */
export function buildArgs(mode: RootMode, server: string, buildDir: string, id: string): string[] {
  return rootNeeds({ root: mode }).image ? [`pibake.image=${server}:${join(dirname(buildDir), imageName(id))}`] : []
}
