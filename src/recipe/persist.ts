/**
 * `netboot.persist`: the folders each node keeps across reboots and rebuilds. Each is a path on the
 * node, written into a unit's script and joined into a path on the NFS server, so it is checked as
 * strictly as the other node paths, and more: a runtime filesystem (`/proc`, `/run`…) or `/` itself
 * cannot be persisted, and no folder may hold another (one mount would hide the other's seed).
 */
import { posix } from 'node:path'
import * as z from 'zod'
import type { Checked } from './files.ts'
import { field } from './fields.ts'

/** Filesystems the kernel or systemd makes at boot: nothing on them survives, nothing may cover them. */
const RUNTIME = ['/proc', '/sys', '/dev', '/run', '/boot']

const HINT = 'name a folder a service keeps its state in, such as /var/lib/rancher or /etc/rancher'

export function checkPersistPath(text: string): Checked<string> {
  const quoted = JSON.stringify(text)
  if (/[\s\x00-\x1f\x7f]/.test(text)) return { problem: `${quoted} contains white space or a control character: it would split the line it is written into`, hint: HINT }
  if (!text.startsWith('/')) return { problem: `${quoted} must be an absolute path`, hint: HINT }
  if (text.includes(',')) return { problem: `${quoted} contains a comma: it would end an option where the folder is written (a mount's options)`, hint: HINT }
  if (text.split('/').includes('..')) return { problem: `${quoted} contains "..": give the folder's own path`, hint: HINT }
  if (/["'\\$`]/.test(text)) return { problem: `${quoted} contains a quote, "\\", "$" or "\`", which the boot script would read as shell syntax`, hint: HINT }
  const path = posix.normalize(text).replace(/(.)\/$/, '$1')
  if (path === '/') return { problem: `${quoted} is the whole root: persist the folders that must survive, not /`, hint: HINT }
  const runtime = RUNTIME.find((dir) => path === dir || path.startsWith(`${dir}/`))
  if (runtime) return { problem: `${quoted} is on ${runtime}, which the system makes anew at every boot`, hint: HINT }
  return { value: path }
}

/** The list: each folder once, none inside another. */
export const persistList = z.array(field(checkPersistPath)).superRefine((paths, ctx) => {
  paths.forEach((path, i) => {
    if (paths.indexOf(path) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `lists ${path} twice` })
    const outer = paths.find((other) => other !== path && path.startsWith(`${other}/`))
    if (outer) ctx.addIssue({ code: 'custom', path: [i], message: `${path} is inside ${outer}, which is persisted already: list only ${outer}` })
  })
})
