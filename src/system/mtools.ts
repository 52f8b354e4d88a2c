/** The FAT boot partition, read and written with mtools: no kernel vfat, no mount. */
import { exec } from './exec.ts'

const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: '1', MTOOLS_NO_VFAT: '0' }

/** `IMG@@OFFSET`, the way mtools addresses a partition inside an image. */
function drive(image: string, offset: number): string {
  return `${image}@@${offset}`
}

/** Copies the whole partition into `dest` (which must exist), keeping names and mtimes. */
export async function copyFatTree(image: string, offset: number, dest: string, signal?: AbortSignal): Promise<void> {
  await exec(['mcopy', '-s', '-p', '-m', '-n', '-Q', '-i', drive(image, offset), '::/*', dest], {
    signal,
    env: MTOOLS_ENV,
    hint: 'the boot partition could not be read as FAT: the image may be damaged or truncated (check its sha256)',
  })
}
