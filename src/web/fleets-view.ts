/** The fleets page: every recipe of the site, its live build, its nodes and what each boots. */
import type { RecipeView, SiteView } from '../site/status.ts'
import type { DnsmasqSeen } from './boots.ts'
import { h, shortTime, type Html } from './html.ts'
import type { Run } from './runs.ts'

export interface FleetsData {
  readonly view: SiteView
  readonly seen: DnsmasqSeen | undefined
  /** The newest run of each recipe, when it is still running. */
  readonly running: ReadonlyMap<string, Run>
}

export function fleetsBody(data: FleetsData): Html {
  const { view } = data
  if (!view.recipes.length) return h`<p>No recipe is published to the site at <code>${view.config}</code> yet: <code>pibake build &lt;recipe.ts&gt;</code> publishes one.</p>`
  const names = view.recipes.map((r) => r.recipe)
  return h`<h1>Fleets</h1>
<p class="muted">${view.recipes.length} recipes, ${view.recipes.reduce((n, r) => n + r.nodes.length, 0)} nodes, site <code>${view.config}</code>${data.seen ? '' : h` · start <code>pibake serve --log &lt;dnsmasq log&gt;</code> to see when each node last booted`}</p>
${view.recipes.map((recipe) => fleet(recipe, names, data))}`
}

function fleet(recipe: RecipeView, names: readonly string[], data: FleetsData): Html {
  const others = names.filter((n) => n !== recipe.recipe)
  const running = data.running.get(recipe.recipe)
  const link = `/recipes/${encodeURIComponent(recipe.recipe)}`
  return h`<section class="fleet" data-recipe="${recipe.recipe}">
<h2><a href="${link}">${recipe.recipe}</a></h2>
<p>live build <code class="live">${recipe.live ?? 'none'}</code> · <code>${recipe.file}</code> · updated ${shortTime(recipe.updated)}
 · <a href="${link}/build">Build…</a>${running ? h` · <a href="${link}#live"><b>a build is running</b></a>` : ''}</p>
<table class="nodes"><thead><tr><th>node</th><th>MAC</th><th>model</th><th>serial</th><th>IP</th><th>boots</th>${data.seen ? h`<th>last answered</th><th>last boot file</th>` : ''}<th>move to</th></tr></thead><tbody>
${recipe.nodes.map((node) => {
    const seen = data.seen?.nodes.get(node.mac.toLowerCase())
    const boots = node.boots ? `${node.boots.recipe === recipe.recipe ? '' : `${node.boots.recipe}/`}${node.boots.build}` : '(no link)'
    return h`<tr class="node" data-mac="${node.mac}" data-hostname="${node.hostname}"><td><b>${node.hostname}</b></td><td><code>${node.mac}</code></td><td>${node.model}</td><td>${node.serial ?? '—'}</td><td>${node.ip ?? '(DHCP)'}</td>
<td><code class="boots ${node.boots?.build === recipe.live ? 'live' : ''}">${boots}</code></td>
${data.seen ? h`<td class="answered">${seen?.answered ?? '—'}</td><td class="fetched">${seen?.fetched ? h`<code>${seen.fetched.file}</code> <small>${seen.fetched.at}</small>` : '—'}</td>` : ''}
<td>${others.length ? h`<form method="get" action="/move" class="inline move"><input type="hidden" name="mac" value="${node.mac}"><select name="to" aria-label="recipe to move ${node.hostname} to">${others.map((o) => h`<option value="${o}">${o}</option>`)}</select> <button type="submit">Move…</button></form>` : h`<span class="muted">no other recipe</span>`}</td></tr>`
  })}
</tbody></table></section>`
}
