/**
 * A recipe's builds: each published build with its date, size, the nodes on it and what changed
 * from the build before (the `pibake diff` summary, the full list one click away); the stage chart
 * and the runs from the logs; the running build's task list. The server's recipe page and
 * `pibake report` show this same view; the report without the buttons and with every list inline.
 */
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { formatBytes } from '../pipeline/events.ts'
import { SBOM_FORMATS, SBOM_SUFFIX } from '../sbom/files.ts'
import type { RecipeView } from '../site/status.ts'
import { formatDiff } from '../snapshot/index.ts'
import { changesLine, type BuildChanges } from './changes.ts'
import { stageChart } from './chart.ts'
import { h, raw, shortTime, type Html } from './html.ts'
import { postForm } from './layout.ts'
import type { Run } from './runs.ts'
import { renderTaskList, type TaskList } from './tasks.ts'

/** What is known of a build's changes from the one before: computed, still being computed, or why not. */
export type ChangesState = { readonly kind: 'done'; readonly changes: BuildChanges } | { readonly kind: 'pending' } | { readonly kind: 'none'; readonly why: string }

export interface BuildsData {
  readonly recipe: RecipeView
  /** Host names of the site's nodes booting each build of this recipe (from any recipe, after a move). */
  readonly bootedBy: ReadonlyMap<string, readonly string[]>
  readonly changes: ReadonlyMap<string, ChangesState>
  readonly runs: readonly Run[]
  /** The running build's task list, if one runs. */
  readonly live: TaskList | undefined
}

/**
 * `report`: no forms, lists inline, each build's SBOMs linked where they are on this machine
 * (`sboms`: the builds folder, when the NFS tree is local). Otherwise the page's forms carry `csrf`,
 * and the SBOMs are the server's to send.
 */
export type BuildsMode = { readonly report: true; readonly sboms?: string | undefined } | { readonly report: false; readonly csrf: string }

export function buildsBody(data: BuildsData, mode: BuildsMode): Html {
  const { recipe } = data
  const base = `/recipes/${encodeURIComponent(recipe.recipe)}`
  return h`<h1>${recipe.recipe}</h1>
<p>live build <code class="live">${recipe.live ?? 'none'}</code> · recipe <code>${recipe.file}</code> · ${recipe.nodes.length} nodes${mode.report ? '' : h` · <a href="${base}/build">Build…</a>`}</p>
${mode.report ? '' : liveSection(data, base)}
<h2>Builds</h2>
<table class="builds"><thead><tr><th>build</th><th>published</th><th>size</th><th>state</th><th>nodes on it</th><th>changes from the build before</th><th>SBOM</th>${mode.report ? '' : h`<th></th>`}</tr></thead><tbody>
${[...recipe.builds].reverse().map((b) => h`<tr class="build" data-build="${b.id}"><td><code class="${b.live ? 'live' : ''}">${b.id}</code></td><td>${shortTime(b.created)}</td><td>${b.bytes === undefined ? '—' : formatBytes(b.bytes)}</td>
<td>${b.live ? h`<b class="live">LIVE</b>` : h`<small>${b.retention}</small>`}</td><td>${(data.bootedBy.get(b.id) ?? []).join(', ') || '—'}</td>
<td>${changesCell(data.changes.get(b.id), mode, `${base}/builds/${encodeURIComponent(b.id)}/changes`)}</td>
<td class="sbom">${sbomCell(b.id, mode, `${base}/builds/${encodeURIComponent(b.id)}/sbom`)}</td>
${mode.report ? '' : h`<td>${b.live ? '' : h`<a href="${base}/rollback?to=${encodeURIComponent(b.id)}">Roll back to this build…</a>`}</td>`}</tr>`)}
</tbody></table>
<h2>Build history</h2>
<p class="muted">Seconds each stage ran, per run (from the JSON-lines logs; cached and skipped stages take none).</p>
${stageChart(data.runs)}
${runsTable(data.runs)}`
}

function liveSection(data: BuildsData, base: string): Html {
  if (!data.live) return h`<section id="live"></section>`
  return h`<section id="live"><h2>Running build</h2><div id="tasks" data-events="${base}/live/events">${renderTaskList(data.live)}</div>${followScript('tasks')}</section>`
}

/** The build's SBOM in each format: the server's route, or in a report the file beside the build on this machine. */
function sbomCell(id: string, mode: BuildsMode, route: string): Html | string {
  const links = SBOM_FORMATS.map((format) => {
    const href = mode.report ? mode.sboms && pathToFileURL(join(mode.sboms, `${id}${SBOM_SUFFIX[format]}`)).href : `${route}/${format}`
    return href ? h`<a href="${href}">${SBOM_LABEL[format]}</a>` : undefined
  }).filter((link) => link !== undefined)
  return links.length ? h`${links[0]!} · ${links[1]!}` : h`<span class="muted">on the NFS server</span>`
}

const SBOM_LABEL = { spdx: 'SPDX', cyclonedx: 'CycloneDX' } as const

function changesCell(state: ChangesState | undefined, mode: BuildsMode, href: string): Html | string {
  if (!state) return h`<span class="muted">the first build</span>`
  if (state.kind === 'pending') return h`<span class="muted">being computed — reload in a moment</span>`
  if (state.kind === 'none') return h`<span class="muted">${state.why}</span>`
  const line = h`<span class="changes">${changesLine(state.changes)}</span> <small>(from ${state.changes.from})</small>`
  if (!mode.report) return h`${line} <a href="${href}">full list</a>`
  return h`${line}<details><summary>full list</summary>${changesList(state.changes)}</details>`
}

export function changesList(changes: BuildChanges): Html {
  const p = changes.packages
  return h`${p ? h`<h3>Packages</h3><pre class="packages">${[...p.added.map((n) => `+ ${n}`), ...p.removed.map((n) => `- ${n}`), ...p.upgraded.map((u) => `~ ${u.name} ${u.from} -> ${u.to}`)].join('\n') || 'no package changed'}</pre>` : ''}
<h3>Files</h3><pre class="diff">${formatDiff(changes.diff)}</pre>`
}

function runsTable(runs: readonly Run[]): Html {
  if (!runs.length) return h``
  return h`<table class="runs"><thead><tr><th>started</th><th>result</th><th>build</th><th>seconds</th><th>log</th></tr></thead><tbody>
${runs.map((r) => h`<tr><td>${shortTime(r.started)}</td><td>${r.state}</td><td><code>${r.summary?.build ?? '—'}</code></td><td>${r.summary ? r.summary.seconds : '—'}</td><td><small>${r.log}</small></td></tr>`)}
</tbody></table>`
}

/**
 * Keeps the element `id` up to date from its `data-events` stream (server-sent events: each build
 * event as `--json` prints it, and `view`, the task list rendered by the server); reloads at `end`.
 * Without JavaScript the page shows the list as it was when loaded.
 */
export function followScript(id: string): Html {
  return raw(`<script>(() => {
  const el = document.getElementById(${JSON.stringify(id)})
  const events = new EventSource(el.dataset.events)
  events.addEventListener('view', (e) => { el.innerHTML = JSON.parse(e.data) })
  events.addEventListener('end', () => { events.close(); el.dataset.ended = 'yes'; location.reload() })
})()</script>`)
}
