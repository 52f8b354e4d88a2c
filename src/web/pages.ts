/** The smaller pages: confirmations, results, a job as it runs, the new Pis, a build's full changes. */
import type { Discovered } from '../site/identify.ts'
import type { RollbackResult } from '../site/ops.ts'
import type { MovePlan } from './actions.ts'
import { nodeEntry } from './boots.ts'
import { changesList, followScript } from './builds-view.ts'
import type { BuildChanges } from './changes.ts'
import { h, shortTime, type Html } from './html.ts'
import type { Job } from './jobs.ts'
import { notice, postForm } from './layout.ts'
import { renderTaskList } from './tasks.ts'

export function confirmMove(plan: MovePlan, csrf: string): Html {
  const { node, from, to } = plan
  return h`<h1>Move ${node.hostname} to ${to.recipe}?</h1>
<p><b>${node.hostname}</b> (<code>${node.mac}</code>) boots <b>${from.recipe}</b> now. Moving it does what you would do by hand:</p>
<ol><li>its entry goes from <code>${from.file}</code> to the nodes of <code>${to.file}</code>:<pre>${plan.entry}</pre></li>
<li><code>pibake build ${to.file} --take</code> publishes ${to.recipe} with it: its TFTP link, the site's <code>dnsmasq.conf</code>, <code>exports</code> and <code>hosts</code> follow.</li></ol>
<p>It boots ${to.recipe}'s build at its next boot; until then it keeps running what it booted. If the build fails before the site takes the node, both files are put back.</p>
${postForm('/move', csrf, { mac: node.mac, to: to.recipe }, `Move ${node.hostname} to ${to.recipe}`)} <a href="/">Cancel</a>`
}

export function confirmRollback(recipe: string, live: string | undefined, to: string, csrf: string): Html {
  return h`<h1>Roll ${recipe} back to ${to}?</h1>
<p>The live build is <code>${live ?? 'none'}</code>. Rolling back points <code>current</code> and every node of ${recipe} at <code>${to}</code>, one rename each (as <code>pibake rollback ${recipe} --to ${to}</code>); nodes boot it at their next boot.</p>
${postForm(`/recipes/${encodeURIComponent(recipe)}/rollback`, csrf, { to }, `Roll back to ${to}`)} <a href="/recipes/${encodeURIComponent(recipe)}">Cancel</a>`
}

export function rollbackDone(result: RollbackResult): Html {
  return h`<h1>${result.recipe} rolled back</h1>
${notice('ok', h`<span class="outcome">${result.recipe}: live build ${result.from ?? 'none'} → ${result.to}; nodes switched: ${result.switched.join(', ') || 'none'}</span>${result.skipped.length ? h`<br>not in build ${result.to}, left as they were: ${result.skipped.join(', ')}` : ''}`)}
<p><a href="/recipes/${encodeURIComponent(result.recipe)}">${result.recipe}'s builds</a> · <a href="/">Fleets</a></p>`
}

export function confirmBuild(recipe: string, file: string, outDir: string, csrf: string): Html {
  return h`<h1>Build ${recipe}?</h1>
<p>Runs <code>pibake build ${file} --out ${outDir}</code>: every stage that is not cached, then publishes to the recipe's targets if the result differs from the live build.</p>
${postForm(`/recipes/${encodeURIComponent(recipe)}/build`, csrf, {}, `Build ${recipe}`)} <a href="/recipes/${encodeURIComponent(recipe)}">Cancel</a>`
}

export function jobBody(job: Job): Html {
  return h`<h1>${job.title}</h1><p class="muted">started ${shortTime(job.started)}</p>
<div id="job" data-events="/jobs/${job.id}/events" data-state="${job.state}">${jobView(job)}</div>${job.state === 'running' ? followScript('job') : ''}`
}

/** The part of a job's page that follows it: notes, task list, outcome. */
export function jobView(job: Job): Html {
  return h`${job.notes.length ? h`<ul class="notes">${job.notes.map((n) => h`<li>${n}</li>`)}</ul>` : ''}
${renderTaskList(job.tasks)}
${job.state === 'running' ? h`<p class="muted">running…</p>` : notice(job.state === 'done' ? 'ok' : 'error', h`<span class="outcome" data-state="${job.state}">${job.outcome ?? ''}</span>`)}`
}

export function jobsBody(jobs: readonly Job[]): Html {
  if (!jobs.length) return h`<h1>Actions</h1><p>No move or build was started from this page since the server started.</p>`
  return h`<h1>Actions</h1><table><thead><tr><th>started</th><th>action</th><th>state</th><th>outcome</th></tr></thead><tbody>
${jobs.map((j) => h`<tr><td>${shortTime(j.started)}</td><td><a href="/jobs/${j.id}">${j.title}</a></td><td>${j.state}</td><td>${j.outcome ?? ''}</td></tr>`)}</tbody></table>`
}

export function newPisBody(found: readonly Discovered[] | undefined): Html {
  if (!found) {
    return h`<h1>New Pis</h1><p>The server reads no dnsmasq log. Start it with <code>pibake serve --log &lt;file&gt;</code>, the file the site's dnsmasq writes with <code>log-facility=</code> (pibake's <code>dnsmasq.conf</code> has <code>log-dhcp</code>), or listen on the Pis' network with <code>pibake discover --interface &lt;if&gt;</code>.</p>`
  }
  if (!found.length) return h`<h1>New Pis</h1><p>No Raspberry Pi unknown to the site has asked dnsmasq for a boot (in the log's last 8 MiB).</p>`
  return h`<h1>New Pis</h1><p>${found.length} Raspberry Pis asked for a boot and no recipe of the site knows them. Paste an entry into a recipe's <code>nodes</code> (give it an <code>ip</code> on a DHCP-range site), then build that recipe.</p>
<table><thead><tr><th>MAC</th><th>model</th><th>serial</th><th>requests</th><th>node entry</th></tr></thead><tbody>
${found.map((n) => h`<tr class="new-pi" data-mac="${n.mac}"><td><code>${n.mac}</code></td><td>${n.model} <small>(${n.modelCertainty}: ${n.modelHow})</small></td><td>${n.serial ?? '—'}</td><td>${n.requests}${n.interface ? ` on ${n.interface}` : ''}</td><td><pre>${nodeEntry(n)}</pre></td></tr>`)}
</tbody></table>`
}

export function changesBody(recipe: string, id: string, changes: BuildChanges): Html {
  return h`<h1>${recipe}: build ${id}</h1><p>What changed from build <code>${changes.from}</code> (as <code>pibake diff</code> shows it).</p>${changesList(changes)}`
}

export function errorBody(message: string, hint: string | undefined): Html {
  return h`<h1>Not done</h1>${notice('error', h`<span class="outcome">${message}</span>${hint ? h`<br><small>${hint}</small>` : ''}`)}<p><a href="/">Fleets</a></p>`
}
