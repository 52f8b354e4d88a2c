/** A storm's report as the table `pibake rehearse` and the bench print. */
import type { StormReport } from './storm.ts'

export function formatReport(report: StormReport, options: { failedNodes?: number } = {}): string[] {
  const t = report.totals
  const lines = [
    `${t.nodes} nodes: ${t.completed} reached the kernel hand-off, ${t.failed} failed (storm ${report.seconds.toFixed(1)} s)`,
    t.handoff ? `kernel hand-off after power-on: p50 ${t.handoff.p50.toFixed(1)} s, p95 ${t.handoff.p95.toFixed(1)} s, max ${t.handoff.max.toFixed(1)} s` : 'no node reached the kernel hand-off',
    `within their firmware's timeouts: ${t.withinTimeouts.nodes} of ${t.nodes}${t.withinTimeouts.slowest === undefined ? '' : ` (slowest file ${t.withinTimeouts.slowest.toFixed(1)} s of its ${t.withinTimeouts.limit} s)`}${t.withinTimeouts.retriedFiles ? `; ${t.withinTimeouts.retriedFiles} files came only when asked again` : ''}`,
    `attempts per node: p50 ${t.attempts.p50}, p95 ${t.attempts.p95}, max ${t.attempts.max}; ${t.attempts.restarted} nodes started again after a failed attempt; ${t.leases} leases taken`,
    '',
    `${'phase'.padEnd(8)}${'done'.padStart(6)}${'p50 s'.padStart(8)}${'max s'.padStart(8)}${'MB'.padStart(9)}${'MB/s'.padStart(8)}${'useful MB/s'.padStart(13)}`,
    ...t.phases.map((p) => `${p.phase.padEnd(8)}${String(p.completed).padStart(6)}${fixed(p.p50).padStart(8)}${fixed(p.max).padStart(8)}${(p.bytes / 1e6).toFixed(1).padStart(9)}${p.mbps.toFixed(1).padStart(8)}${p.usefulMbps.toFixed(1).padStart(13)}`),
  ]
  if (t.duplicateAddresses) lines.push('', `${t.duplicateAddresses} addresses were given to more than one node`)
  if (report.lateDhcpReplies) lines.push('', `${report.lateDhcpReplies} DHCP answers came after their node had given up on the request (the server answered too slowly)`)
  const failures = Object.entries(t.failures).sort((a, b) => b[1] - a[1])
  if (failures.length) lines.push('', 'failures:', ...failures.map(([what, count]) => `  ${String(count).padStart(5)} × ${what}`))
  const retried = Object.entries(t.attemptFailures).sort((a, b) => b[1] - a[1])
  if (retried.length) lines.push('', 'failed attempts (the node started again where its firmware does):', ...retried.map(([what, count]) => `  ${String(count).padStart(5)} × ${what}`))
  const failed = report.nodes.filter((n) => n.error).slice(0, options.failedNodes ?? 0)
  for (const node of failed) lines.push(`  ${node.mac} ${node.model}: ${node.error!.phase} ${node.error!.file ?? ''} ${node.error!.what}`)
  lines.push('', `bottleneck: ${t.bottleneck}`)
  return lines
}

function fixed(value: number | undefined): string {
  return value === undefined ? '-' : value.toFixed(1)
}
