/**
 * Finds the Debian mirror this host's apt already uses (deb822 `.sources` files and one-line
 * `.list` files), so the demo image downloads from the same place and nowhere else.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PreflightError } from '../errors.ts'

interface SourceEntry {
  readonly types: readonly string[]
  readonly uris: readonly string[]
  readonly suites: readonly string[]
  readonly components: readonly string[]
}

export async function findDebianMirror(suite: string, aptDir = '/etc/apt'): Promise<string> {
  const entries = await readSourceEntries(aptDir)
  const match = entries.find((e) => e.types.includes('deb') && e.suites.includes(suite) && e.components.includes('main'))
  const uri = match?.uris[0]
  if (!uri) {
    throw new PreflightError(
      `no apt source for "${suite} main" in ${aptDir}/sources.list or ${aptDir}/sources.list.d/`,
      `pass the mirror explicitly (mirror: 'http://deb.debian.org/debian'), or add a ${suite} source to apt`,
    )
  }
  return uri.replace(/\/+$/, '')
}

async function readSourceEntries(aptDir: string): Promise<SourceEntry[]> {
  const partsDir = join(aptDir, 'sources.list.d')
  const parts = (await readdir(partsDir).catch(() => [] as string[])).sort()
  const files = [join(aptDir, 'sources.list'), ...parts.map((name) => join(partsDir, name))]
  const entries: SourceEntry[] = []
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => undefined)
    if (text === undefined) continue
    if (file.endsWith('.sources')) entries.push(...parseDeb822(text))
    else if (file.endsWith('.list')) entries.push(...parseOneLine(text))
  }
  return entries
}

export function parseDeb822(text: string): SourceEntry[] {
  return text.split(/\n\s*\n/).flatMap((stanza) => {
    const fields = new Map<string, string[]>()
    for (const line of stanza.split('\n')) {
      const m = /^([\w-]+):\s*(.*)$/.exec(line)
      if (m?.[1] && m[2] !== undefined) fields.set(m[1].toLowerCase(), m[2].split(/\s+/).filter(Boolean))
    }
    if (fields.get('enabled')?.[0] === 'no' || !fields.has('uris')) return []
    return [{ types: fields.get('types') ?? [], uris: fields.get('uris') ?? [], suites: fields.get('suites') ?? [], components: fields.get('components') ?? [] }]
  })
}

export function parseOneLine(text: string): SourceEntry[] {
  return text.split('\n').flatMap((raw) => {
    const line = raw.replace(/#.*/, '').replace(/\[[^\]]*\]/, '').trim()
    const [type, uri, suite, ...components] = line.split(/\s+/)
    if (!type || !uri || !suite) return []
    return [{ types: [type], uris: [uri], suites: [suite], components }]
  })
}
