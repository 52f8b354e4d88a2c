/**
 * A real site with two published fleets for the web page's tests: recipe files as an administrator
 * keeps them (importing defineRecipe from 'pibake', nodes written as literals), baking a tiny image,
 * both published by build() to the default site of one out folder.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { clean } from '../../src/clean.ts'
import { makeTinyImage, type TinyImage } from '../helpers/tiny-image.ts'

export interface Fleets {
  readonly dir: string
  readonly out: string
  readonly publish: string
  readonly image: TinyImage
  readonly files: { readonly workers: string; readonly desks: string }
  /** Writes a file into a recipe's overlay (rootfs/…), so that its next build differs. */
  overlay(recipe: 'workers' | 'desks', path: string, content: string): Promise<void>
  remove(): Promise<void>
}

export const NODES = {
  w1: { hostname: 'w1', mac: 'dc:a6:32:00:61:01', ip: '10.61.0.11', model: '4B' },
  w2: { hostname: 'w2', mac: 'dc:a6:32:00:61:02', ip: '10.61.0.12', model: '4B' },
  desk1: { hostname: 'desk1', mac: 'e4:5f:01:00:62:01', ip: '10.61.0.21', model: '400' },
} as const

export async function makeFleets(): Promise<Fleets> {
  const dir = await mkdtemp(join(tmpdir(), 'pibake-web-'))
  const image = await makeTinyImage(join(dir, 'image'))
  const out = join(dir, 'out')
  const overlay = async (recipe: string, path: string, content: string) => {
    const file = join(dir, 'overlays', recipe, 'rootfs', path)
    await mkdir(join(file, '..'), { recursive: true })
    await writeFile(file, content)
  }
  const files = {
    workers: await writeRecipe(dir, image, 'workers', [NODES.w1, NODES.w2]),
    desks: await writeRecipe(dir, image, 'desks', [NODES.desk1]),
  }
  await overlay('workers', 'etc/motd', 'workers, first build\n')
  await overlay('desks', 'etc/motd', 'desks\n')
  return {
    dir,
    out,
    publish: join(out, 'publish'),
    image,
    files,
    overlay,
    remove: async () => {
      await clean(out)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function writeRecipe(dir: string, image: TinyImage, name: string, nodes: readonly (typeof NODES)[keyof typeof NODES][]): Promise<string> {
  await mkdir(join(dir, 'recipes'), { recursive: true })
  const file = join(dir, 'recipes', `${name}.ts`)
  const entries = nodes.map((n) => `    { hostname: '${n.hostname}', mac: '${n.mac}', ip: '${n.ip}', model: '${n.model}' },`).join('\n')
  await writeFile(
    file,
    `import { defineRecipe } from 'pibake'

export default defineRecipe({
  name: '${name}',
  image: { path: ${JSON.stringify(image.img)}, sha256: '${image.sha256}' },
  overlays: ['../overlays/${name}'],
  netboot: {
    server: '10.61.0.1',
    dhcp: { mode: 'range', start: '10.61.0.100', end: '10.61.0.150', netmask: '255.255.255.0', router: '10.61.0.1' },
    nfs: { server: '10.61.0.1' },
    log: ${JSON.stringify(join(dir, 'dnsmasq.log'))},
  },
  nodes: [
${entries}
  ],
})
`,
  )
  return file
}
