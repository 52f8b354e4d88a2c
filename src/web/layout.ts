/** The frame every page shares: title, navigation, a small style sheet, and forms' hidden CSRF field. */
import { h, raw, type Html } from './html.ts'

export interface Nav {
  readonly recipes: readonly string[]
  readonly site: string
}

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#243447;color:#fff;padding:8px 20px;display:flex;gap:18px;align-items:baseline;flex-wrap:wrap}
header a{color:#cfe3ff;text-decoration:none}header b{font-size:16px}
main{padding:12px 20px;max-width:1200px}
h2{margin:22px 0 6px}table{border-collapse:collapse;margin:6px 0 10px;background:#fff}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f0f2f5}
code,pre{font:12px/1.4 ui-monospace,monospace}pre{background:#fff;border:1px solid #ddd;padding:8px;overflow:auto}
.live{color:#176d2b;font-weight:bold}.muted,small{color:#666}
button{font:inherit;padding:2px 10px;cursor:pointer}form.inline{display:inline;margin:0}
.notice{padding:8px 12px;border:1px solid;margin:10px 0}.ok{border-color:#2e7d32;background:#edf7ee}.error{border-color:#c62828;background:#fdecea}
ol.tasks{list-style:none;padding:0}.task{padding:3px 6px;margin:2px 0;background:#fff;border-left:4px solid #bbb}
.task.running{border-color:#1565c0}.task.done{border-color:#2e7d32}.task.failed{border-color:#c62828}.task.cached,.task.skipped{color:#777}
.task .state{display:inline-block;width:64px;color:#555}.task .latest{font:12px ui-monospace,monospace;color:#444;white-space:pre-wrap}
ul.messages li.warning{color:#a15c00}.summary{font-weight:bold}.summary.failed{color:#c62828}
.key{margin-right:12px}.key i{display:inline-block;width:10px;height:10px;margin-right:4px}
`

export function page(title: string, nav: Nav | undefined, body: Html): Html {
  return h`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${title} · pibake</title><style>${raw(STYLE)}</style></head>
<body><header><b>pibake</b>${nav ? h`<a href="/">Fleets</a>${nav.recipes.map((r) => h`<a href="/recipes/${encodeURIComponent(r)}">${r}</a>`)}<a href="/new">New Pis</a><a href="/jobs">Actions</a><span class="muted">site ${nav.site}</span>` : ''}</header>
<main>${body}</main></body></html>`
}

/** A POST form with the CSRF token; `fields` become hidden inputs. */
export function postForm(action: string, csrf: string, fields: Readonly<Record<string, string>>, label: string): Html {
  return h`<form method="post" action="${action}" class="inline"><input type="hidden" name="csrf" value="${csrf}">${Object.entries(fields).map(([name, value]) => h`<input type="hidden" name="${name}" value="${value}">`)}<button type="submit">${label}</button></form>`
}

export function notice(kind: 'ok' | 'error', body: Html | string): Html {
  return h`<div class="notice ${kind}" role="status">${body}</div>`
}
