/**
 * A real site with two published demo fleets for the web page's tests: recipe files as an
 * administrator keeps them (importing defineRecipe from 'pibake', nodes written as literals) on the
 * arm64 demo image (built, or reused from out/demo), both published by build() to the default site
 * of one out folder.
 */
import { copyFile, link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { clean } from '../../src/clean.ts'
import { buildDemoImage } from '../../src/demo/build.ts'
import { fileSha256 } from '../../src/stages/image.ts'

const DEMO_DIR = join(import.meta.dirname, '../../out/demo')

/** The demo image as the recipes name it: a link of out/demo's raw image in the test's folder, and its sha256. */
export interface FleetImage {
  readonly img: string
  readonly sha256: string
}

export interface Fleets {
  readonly dir: string
  readonly out: string
  readonly publish: string
  readonly image: FleetImage
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
  const out = join(dir, 'out')
  const image = await fleetImage(dir, out)
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

async function writeRecipe(dir: string, image: FleetImage, name: string, nodes: readonly (typeof NODES)[keyof typeof NODES][]): Promise<string> {
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

/**
 * A hard link (a copy on another file system) of the arm64 demo image in `<dir>/image/`: a test may
 * rename it away to make a build fail without touching out/demo.
 */
async function fleetImage(dir: string, out: string): Promise<FleetImage> {
  const demo = await buildDemoImage({ arch: 'arm64', outDir: DEMO_DIR })
  const img = join(dir, 'image', basename(demo.img))
  await mkdir(join(dir, 'image'), { recursive: true })
  await link(demo.img, img).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EXDEV') throw error
    return copyFile(demo.img, img)
  })
  return { img, sha256: await fileSha256(img, join(out, 'cache/checksums.json')) }
}
