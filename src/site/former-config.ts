/**
 * A site published before a target's `config` defaulted to a folder beside the TFTP root kept its
 * records (`<tftp>/pibake/`) and `dnsmasq.conf`, `exports`, `ganesha.conf`, `hosts` in the TFTP
 * root itself. Publishing such a recipe again, unchanged, would start a second, empty site in the
 * new place: the other recipes' nodes would vanish from the new dnsmasq.conf, and the boot server's
 * dnsmasq, still reading the old one, would not see this publish at all.
 *
 * So publishing refuses, before anything is copied, and says both ways on: keep the old place with
 * one `config:` line, or move the files out of the TFTP root (and point dnsmasq at the moved
 * dnsmasq.conf). It does not move them itself: the boot server's dnsmasq reads dnsmasq.conf from a
 * path set outside pibake (a unit, /etc/dnsmasq.d), and a moved file would stop it at its next start.
 */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { PreflightError, shellQuote } from '../errors.ts'
import type { HostPool } from '../publish/hosts.ts'
import type { Destination, PublishTarget } from '../recipe/types.ts'
import { recordsDir } from './record.ts'
import { CONFIG_FILES } from './render.ts'

/** Throws when `target`'s config was left out and its former place holds a site its new place lacks. */
export async function refuseFormerConfig(hosts: HostPool, target: PublishTarget, field: string): Promise<void> {
  const former = target.formerConfig
  if (!former) return
  const found = await siteFiles(hosts, former)
  if (!found.length || (await siteFiles(hosts, target.config)).length) return
  const files = hosts.get(former).files
  const to = hosts.get(target.config).files.describe(target.config.path)
  const moved = [...CONFIG_FILES, 'pibake'].map((name) => join(former.path, name))
  throw new PreflightError(
    `${field}: the site at ${files.describe(former.path)} keeps its records and server configuration (${found.join(', ')}) inside the TFTP root, which any host on the LAN can read; ` +
      `with config left out, they now go to ${to}, which holds no site yet`,
    [
      `to keep them where they are, add to ${field.replace(/\.config$/, '')}: config: ${destinationText(former)}`,
      `to move them out of the TFTP root, on ${former.kind === 'ssh' ? `${former.user}@${former.host}` : 'this machine'}: ` +
        `${shellQuote(['mkdir', '-p', target.config.path])} && ${shellQuote(['mv', ...moved, `${target.config.path}/`])} (those that exist), ` +
        `point dnsmasq at ${join(target.config.path, 'dnsmasq.conf')} (and ganesha or exports at the moved files), then publish again`,
    ].join('\n'),
  )
}

/** Which of a site's files are in `dest`: records, then the configuration files. */
async function siteFiles(hosts: HostPool, dest: Destination): Promise<string[]> {
  const files = hosts.get(dest).files
  const records = (await files.list(recordsDir(dest.path))).filter((name) => name.endsWith('.json') && !name.startsWith('.'))
  const names = new Set(await files.list(dest.path))
  return [...records.map((name) => `pibake/${name}`), ...CONFIG_FILES.filter((name) => names.has(name))]
}

/** The recipe text for a destination: a quoted path, or `{ host, path, … }` with what is not the default. */
export function destinationText(dest: Destination): string {
  const quote = (text: string) => JSON.stringify(text)
  if (dest.kind === 'local') return quote(dest.path)
  const fields = [`host: ${quote(`${dest.user}@${dest.host}`)}`, `path: ${quote(dest.path)}`]
  if (dest.port !== 22) fields.push(`port: ${dest.port}`)
  if (dest.identity) fields.push(`identity: ${quote(dest.identity)}`)
  if (dest.knownHosts !== join(homedir(), '.ssh/known_hosts')) fields.push(`knownHosts: ${quote(dest.knownHosts)}`)
  return `{ ${fields.join(', ')} }`
}
