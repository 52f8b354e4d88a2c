/**
 * What the SBOMs cost a build (issue 21: at most 5 % of a cold build, nothing for an unchanged
 * rebuild). Builds the arm64 demo image's recipe from scratch into a temporary out folder (the
 * image itself reused from out/demo), then, on the published tree, times what the publish stage adds
 * for the SBOMs (dpkg database, copyright files, .deb hashes, recipe files, both documents) a few
 * times, and builds once more unchanged, counting the SBOM messages of that run.
 *
 *   unshare -m --propagation private node bench/sbom.ts [--rounds N]
 *
 * Prints the cold build's seconds, the SBOMs' median seconds and their share of the build, the
 * unchanged rebuild's seconds and how many SBOMs it made, then one line of JSON.
 */
import { mkdtemp, realpath, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { build } from '../src/build.ts'
import { clean } from '../src/clean.ts'
import { buildDemoImage } from '../src/demo/build.ts'
import type { BuildEvent } from '../src/pipeline/events.ts'
import { validateRecipe } from '../src/recipe/validate.ts'
import { sourceDateEpoch } from '../src/repro/epoch.ts'
import { collectSbom } from '../src/sbom/collect.ts'
import { cyclonedxDocument } from '../src/sbom/cyclonedx.ts'
import { recipeProvenance } from '../src/sbom/provenance.ts'
import { spdxDocument } from '../src/sbom/spdx.ts'

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } })
const rounds = Math.max(1, Number(values.rounds) || 3)
const image = await buildDemoImage({ arch: 'arm64', release: 'bookworm', outDir: join(import.meta.dirname, '../out/demo') })
const dir = await mkdtemp(join(tmpdir(), 'pibake-bench-sbom-'))
const out = join(dir, 'out')
try {
  const recipe = validateRecipe(
    {
      name: 'sbom-bench',
      image: { path: image.xz, sha256: image.sha256File, arch: 'arm64' },
      netboot: { server: '10.79.0.1', dhcp: { mode: 'proxy', network: '10.79.0.0' }, nfs: { server: '10.79.0.2' } },
      nodes: [{ hostname: 'bench-a', mac: 'dc:a6:32:00:be:01', ip: '10.79.0.11', model: '4B' }],
    },
    join(dir, 'recipe.ts'),
    { outDir: out },
  )
  const seconds = async (run: () => Promise<unknown>) => {
    const started = performance.now()
    await run()
    return (performance.now() - started) / 1000
  }
  const coldEvents: BuildEvent[] = []
  const cold = await seconds(() => build(recipe, { outDir: out, onEvent: (e) => coldEvents.push(e) }))
  const root = await realpath(join(out, 'publish/nfs/sbom-bench/current'))
  const times: number[] = []
  let packages = 0
  for (let i = 0; i < rounds; i++) {
    times.push(
      await seconds(async () => {
        const data = await collectSbom(root, { recipe: recipe.name, key: 'bench', pibake: 'bench', provenance: await recipeProvenance(recipe), archives: join(out, 'cache/apt/arm64/archives'), created: (await sourceDateEpoch(root)).seconds })
        JSON.stringify(spdxDocument(data), null, 2)
        cyclonedxDocument(data)
        packages = data.packages.length
      }),
    )
  }
  const sbom = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!
  const againEvents: BuildEvent[] = []
  const again = await seconds(() => build(recipe, { outDir: out, onEvent: (e) => againEvents.push(e) }))
  const sbomMessages = (events: BuildEvent[]) => events.filter((e) => e.type === 'info' && /^SBOM/.test(e.message)).length
  const share = sbom / (cold - sbom)
  console.log(`cold build: ${cold.toFixed(1)} s (SBOMs made: ${sbomMessages(coldEvents)})`)
  console.log(`SBOMs of ${packages} packages: median ${sbom.toFixed(2)} s of ${rounds} (${times.map((t) => t.toFixed(2)).join(', ')}): ${(share * 100).toFixed(2)} % of the build without them (target ≤ 5 %)`)
  console.log(`unchanged rebuild: ${again.toFixed(1)} s, SBOMs made: ${sbomMessages(againEvents)} (target 0)`)
  console.log(JSON.stringify({ cold, sbom, rounds: times, share, packages, rebuild: again, rebuildSboms: sbomMessages(againEvents) }))
} finally {
  await clean(out)
  await rm(dir, { recursive: true, force: true })
}
