/** What each of a recipe's publish targets serves now: asked of the site after an interrupted run. */
import type { LiveBuild } from '../errors.ts'
import type { Destination, Recipe } from '../recipe/types.ts'
import { HostPool } from '../publish/hosts.ts'
import { openSite, readRecord } from '../site/store.ts'

/**
 * The live build of `recipe` at each target, from the site's record (none when it has no record or
 * no live build). A target that cannot be asked (unreachable, damaged record) is left out: the hint
 * then says nothing about it rather than something untrue.
 */
export async function liveBuilds(recipe: Recipe): Promise<LiveBuild[]> {
  const hosts = new HostPool()
  try {
    const found: LiveBuild[] = []
    for (const target of recipe.publish) {
      const record = await readRecord(openSite(target.config, hosts), recipe.name).catch(() => null)
      if (record !== null) found.push({ target: describe(target.config), build: record?.live })
    }
    return found
  } finally {
    await hosts.close()
  }
}

function describe(destination: Destination): string {
  return destination.kind === 'local' ? destination.path : `${destination.user}@${destination.host}:${destination.path}`
}
