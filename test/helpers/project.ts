/** A throw-away pibake project for pipeline tests: a tiny image, an overlay, a recipe, an out dir (behind a symlink). */
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { validateRecipe } from '../../src/recipe/validate.ts'
import type { Recipe, RecipeInput } from '../../src/recipe/types.ts'
import { clean } from '../../src/clean.ts'
import { makeTinyImage, type TinyImage, type TinyImageOptions } from './tiny-image.ts'

export interface Project {
  readonly dir: string
  readonly out: string
  readonly image: TinyImage
  readonly overlay: string
  recipe(change?: (input: RecipeInput) => void): Recipe
  /** Writes a file into the overlay's rootfs/ (or bootfs/ with `bootfs/` in front). */
  write(path: string, content: string, mode?: number): Promise<void>
  remove(): Promise<void>
}

export async function makeProject(options: TinyImageOptions = {}): Promise<Project> {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-test-'))
  const image = await makeTinyImage(join(dir, 'image'), options).catch(async (error) => {
    await rm(dir, { recursive: true, force: true })
    throw error
  })
  const overlay = join(dir, 'overlays', 'base')
  await mkdir(join(overlay, 'rootfs'), { recursive: true })
  // out/ is reached through a symbolic link, as `out -> /data/pibake-out` often is: every test on a
  // project (leftover checks included) runs that way; the demo-image suites use a real folder.
  const out = join(dir, 'out')
  await mkdir(join(dir, 'data', 'pibake-out'), { recursive: true })
  await symlink(join(dir, 'data', 'pibake-out'), out)
  const write = async (path: string, content: string, mode = 0o644) => {
    const file = join(overlay, path.startsWith('bootfs/') ? path : join('rootfs', path))
    await mkdir(join(file, '..'), { recursive: true })
    await writeFile(file, content)
    await chmod(file, mode)
  }
  const recipe = (change?: (input: RecipeInput) => void) => {
    const input: RecipeInput = {
      name: 'test-node',
      image: { path: image.img, sha256: image.sha256 },
      overlays: [overlay],
      netboot: { server: '10.99.0.1', dhcp: { mode: 'proxy', network: '10.99.0.0' }, nfs: { server: '10.99.0.2' } },
      nodes: [
        { hostname: 'alpha', mac: 'DC:A6:32:00:00:01', ip: '10.99.0.11', model: '4B' },
        { hostname: 'beta', mac: 'dc:a6:32:00:00:02', ip: '10.99.0.12', model: '5', serial: 'a1b2c3d4', cmdline: ['quiet=0', 'pibake.test=1'] },
      ],
    }
    change?.(input)
    return validateRecipe(input, join(dir, 'recipe.ts'), { outDir: out })
  }
  const remove = async () => {
    await clean(out)
    await rm(dir, { recursive: true, force: true })
  }
  return { dir, out, image, overlay, recipe, write, remove }
}
