/**
 * A recipe as an admin keeps it: in a site folder of its own, outside pibake's checkout and without
 * node_modules, importing defineRecipe from 'pibake', baking the demo image.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { DemoImage } from '../../src/demo/build.ts'

/** Writes `<site>/recipes/<name>.ts` (and a file its overlay copies in); returns the recipe's path. */
export async function writeSiteRecipe(site: string, name: string, image: Pick<DemoImage, 'xz' | 'sha256File'>, extra = ''): Promise<string> {
  await mkdir(join(site, 'recipes'), { recursive: true })
  await mkdir(join(site, 'overlays', name, 'rootfs', 'etc'), { recursive: true })
  await writeFile(join(site, 'overlays', name, 'rootfs', 'etc', 'motd'), `${name}: baked by pibake from a site folder\n`)
  const file = join(site, 'recipes', `${name}.ts`)
  await writeFile(
    file,
    `import { defineRecipe, type NodeInput } from 'pibake'

const nodes: NodeInput[] = [
  { hostname: '${name}-1', mac: 'dc:a6:32:00:90:01', ip: '10.91.0.11', model: '4B' },
  { hostname: '${name}-2', mac: 'dc:a6:32:00:90:02', ip: '10.91.0.12', model: '400' },
]

export default defineRecipe({
  name: '${name}',
  image: { path: ${JSON.stringify(image.xz)}, sha256: ${JSON.stringify(image.sha256File)}, arch: 'arm64' },
  overlays: ['../overlays/${name}'],
  netboot: {
    server: '10.91.0.1',
    dhcp: { mode: 'range', start: '10.91.0.100', end: '10.91.0.150', netmask: '255.255.255.0', router: '10.91.0.1' },
    nfs: { server: '10.91.0.1' },
  },
  nodes,${extra}
})
`,
  )
  return file
}
