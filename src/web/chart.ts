/**
 * The stage chart: one horizontal bar per run, split into the seconds each stage ran (cached and
 * skipped stages take none), drawn as inline SVG on the server. About forty lines instead of a
 * charting library: the page needs no script for it, and `pibake report` embeds it as it is.
 */
import { STAGES } from '../pipeline/stages.ts'
import { h, type Html } from './html.ts'
import type { Run } from './runs.ts'

const COLOURS = ['#8e6c8a', '#4c78a8', '#72b7b2', '#54a24b', '#eeca3b', '#f58518', '#e45756']
const ROW = 22
const LABEL = 150
const WIDTH = 760

export function stageColour(stage: string): string {
  const index = STAGES.findIndex((s) => s.name === stage)
  return COLOURS[(index < 0 ? COLOURS.length - 1 : index) % COLOURS.length]!
}

/** Oldest run at the top, as a history reads; only runs whose stages ended. */
export function stageChart(runs: readonly Run[]): Html {
  const rows = [...runs].filter((r) => r.stages.length).reverse()
  if (!rows.length) return h`<p class="empty">No build of this recipe has logged its stages yet.</p>`
  const total = (run: Run) => run.stages.reduce((sum, s) => sum + (s.seconds ?? 0), 0)
  const longest = Math.max(1, ...rows.map(total))
  const scale = (WIDTH - LABEL - 60) / longest
  const height = rows.length * ROW + 40
  const ticks = niceTicks(longest)
  return h`<figure class="chart"><svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="seconds per stage of each build" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">
${ticks.map((t) => h`<line x1="${LABEL + t * scale}" x2="${LABEL + t * scale}" y1="0" y2="${rows.length * ROW}" stroke="#ddd"/><text x="${LABEL + t * scale}" y="${rows.length * ROW + 14}" text-anchor="middle" fill="#555">${t} s</text>`)}
${rows.map((run, i) => {
    let x = LABEL
    const y = i * ROW + 4
    const bars = run.stages.filter((s) => (s.seconds ?? 0) > 0).map((s) => {
      const w = Math.max(1, s.seconds! * scale)
      const bar = h`<rect class="bar" data-stage="${s.name}" x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${ROW - 8}" fill="${stageColour(s.name)}"><title>${s.name}: ${s.seconds} s</title></rect>`
      x += w
      return bar
    })
    return h`<g class="run" data-log="${run.log}"><text x="${LABEL - 6}" y="${y + ROW / 2 + 1}" text-anchor="end" fill="#222">${run.started.replace('T', ' ').slice(0, 19)}</text>${bars}<text x="${x + 4}" y="${y + ROW / 2 + 1}" fill="#555">${total(run).toFixed(1)} s${run.state === 'published' || run.state === 'unchanged' ? '' : ` (${run.state})`}</text></g>`
  })}
</svg><figcaption>${legend(rows)}</figcaption></figure>`
}

function legend(rows: readonly Run[]): Html {
  const names = STAGES.map((s) => s.name).filter((name) => rows.some((r) => r.stages.some((s) => s.name === name && (s.seconds ?? 0) > 0)))
  return h`${names.map((name) => h`<span class="key"><i style="background:${stageColour(name)}"></i>${name}</span> `)}`
}

/** Round steps of 1, 2 or 5 × 10ⁿ seconds, about five of them. */
function niceTicks(max: number): number[] {
  const raw = max / 5
  const power = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!
  const ticks: number[] = []
  for (let t = 0; t <= max; t += step) ticks.push(Math.round(t * 100) / 100)
  return ticks
}
