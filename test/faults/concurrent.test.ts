/**
 * Two different recipes built at the same time on one machine, as two `pibake build` processes
 * sharing one out/ (its image cache: both bake the same compressed image) and one site: both
 * succeed, and what they publish equals building them one after the other: each root, and the
 * site's configuration naming both fleets. Two builds of the same recipe: the second is refused,
 * naming the first.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFile, readlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { diffSnapshots, takeSnapshot } from '../../src/snapshot/index.ts'
import { exec } from '../../src/system/exec.ts'
import { pibake } from '../helpers/cli.ts'
import { leftBehind } from '../helpers/leftovers.ts'
import { makeProject, type Project } from '../helpers/project.ts'

const RECIPES = ['conc-a', 'conc-b'] as const

let project: Project

const recipeFile = (name: string) => join(project.dir, `${name}.ts`)
const build = (name: string, out: string, watch?: (events: Record<string, unknown>[], pid: number) => Promise<void>) => pibake(['build', recipeFile(name), '--out', out, '--plain'], watch)

test.before(async () => {
  project = await makeProject()
  await project.write('etc/motd', 'built side by side\n')
  // One compressed image for both: the image stage decompresses it into out/'s shared cache.
  await exec(['xz', '-k', '-T0', '-1', project.image.img])
  const xz = `${project.image.img}.xz`
  const { stdout } = await exec(['sha256sum', xz])
  const sha256 = stdout.split(' ')[0]!
  for (const [index, name] of RECIPES.entries()) {
    await writeFile(
      recipeFile(name),
      `import { defineRecipe } from 'pibake'

export default defineRecipe({
  name: '${name}',
  image: { path: ${JSON.stringify(xz)}, sha256: '${sha256}' },
  overlays: [${JSON.stringify(project.overlay)}],
  customize: [{ kind: 'write', path: '/etc/pibake-recipe', content: '${name}\\n' }],
  netboot: { server: '10.99.0.1', dhcp: { mode: 'proxy', network: '10.99.0.0' }, nfs: { server: '10.99.0.2' } },
  nodes: [
    { hostname: '${name}-1', mac: 'dc:a6:32:00:0${index}:01', ip: '10.99.0.${11 + index * 10}', model: '4B' },
    { hostname: '${name}-2', mac: 'dc:a6:32:00:0${index}:02', ip: '10.99.0.${12 + index * 10}', model: '400' },
  ],
})
`,
    )
  }
  // The tiny image has no account files, which the write step's owner lookup reads.
  await project.write('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n')
  await project.write('etc/group', 'root:x:0:\n')
})

test.after(async () => {
  await project.remove()
})

/** The site's configuration, the out folder's path in it (and the ids made of it) made neutral. */
async function siteConfig(out: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {}
  for (const name of ['dnsmasq.conf', 'exports', 'ganesha.conf', 'hosts']) {
    // Export ids are derived from the exported paths, which name the out folder.
    const text = (await readFile(join(out, 'publish', name), 'utf8')).replaceAll(out, '<out>')
    files[name] = text.replace(/fsid=\d+/g, 'fsid=<id>').replace(/Export_Id = \d+/g, 'Export_Id = <id>')
  }
  return files
}

async function liveRoot(out: string, recipe: string): Promise<string> {
  const dir = join(out, 'publish/nfs', recipe)
  return join(dir, await readlink(join(dir, 'current')))
}

test('two recipes built at once, sharing out/ and the site, publish what they publish one after the other', async () => {
  const sequential = join(project.dir, 'out-sequential')
  for (const name of RECIPES) {
    const run = await build(name, sequential)
    assert.is(run.code, 0, run.stderr)
  }
  const together = join(project.dir, 'out-together')
  const runs = await Promise.all(RECIPES.map((name) => build(name, together)))
  for (const [index, run] of runs.entries()) assert.is(run.code, 0, `${RECIPES[index]}: ${run.stderr}`)

  for (const name of RECIPES) {
    const diff = diffSnapshots(await takeSnapshot(await liveRoot(sequential, name)), await takeSnapshot(await liveRoot(together, name)))
    assert.equal([diff.added, diff.removed, diff.changed], [[], [], []], `${name}: the same root either way`)
  }
  const config = await siteConfig(together)
  assert.equal(config, await siteConfig(sequential), "the site's configuration names both fleets either way")
  for (const mac of ['dc:a6:32:00:00:01', 'dc:a6:32:00:01:01']) assert.match(config['dnsmasq.conf']!, `dhcp-host=${mac},`)
  assert.equal(await leftBehind(together), [])
})

test('two builds of the same recipe at once: one publishes, the other is refused naming it', async () => {
  const out = join(project.dir, 'out-twice')
  const pids: number[] = []
  const runs = await Promise.all([0, 1].map((i) => build('conc-a', out, async (_, pid) => void (pids[i] = pid))))
  const codes = runs.map((r) => r.code).sort()
  assert.equal(codes, [0, 1], runs.map((r) => r.stderr).join('\n'))
  // The refusal names the build that holds the lock: the other process, not the refused one's own.
  const refused = runs.findIndex((r) => r.code === 1)
  assert.match(runs[refused]!.stderr, `another pibake build of this recipe is running (pid ${pids[1 - refused]})`)
  assert.equal(await leftBehind(out), [])
})

test.run()
