/**
 * What a site record may hold, as a zod schema. A record is read back from `<config>/pibake/`, a
 * folder other people (and other machines) can write: its hosts and users become ssh arguments,
 * its build ids and paths are joined into paths that are removed, its addresses and paths become
 * lines of dnsmasq.conf and exports. So every field is checked as strictly as the recipe it came
 * from, and a record that fails any check is refused whole, naming the field.
 */
import { isAbsolute } from 'node:path'
import * as z from 'zod'
import { field, matching, strict } from '../recipe/fields.ts'
import { checkPersistPath } from '../recipe/persist.ts'
import { isHostName, netmaskBits, parseIPv4 } from '../recipe/ipv4.ts'
import { isNodeHostname, normalizeMac, normalizeSerial, parseModel } from '../recipe/node.ts'
import { formatPath, messageFor, problemsFromIssues } from '../recipe/problems.ts'
import { sshHostProblem, sshUserProblem } from '../system/ssh.ts'
import { isBuildId, isRecipeName } from './names.ts'
import { RECORD_FORMAT, type SiteRecord } from './record.ts'

const CONTROL = /[\x00-\x1f\x7f]/

const ipv4 = matching((t) => parseIPv4(t) !== undefined, (q) => `${q} is not an IPv4 address`)

const netmask = matching((t) => netmaskBits(t) !== undefined, (q) => `${q} is not a netmask (like 255.255.255.0)`)

/** An absolute path that is only ever an argument or a quoted or escaped value: no control characters. */
const path = matching((t) => isAbsolute(t) && !CONTROL.test(t), (q) => `${q} is not an absolute path without control characters`)

/** An absolute path written as is into a kernel command line or a dnsmasq option: no white space either. */
const plainPath = matching((t) => isAbsolute(t) && !/\s/.test(t) && !CONTROL.test(t), (q) => `${q} is not an absolute path without white space`)

const isoTime = matching(
  (t) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(t) && !Number.isNaN(Date.parse(t)),
  (q) => `${q} is not a time (like 2026-11-25T17:42:33.000Z)`,
)

const buildIdField = matching(isBuildId, (q) => `${q} is not a build id (like 20261125-174233-1a2b3c4d)`)

/** An NFS server's address or host name: a path component (`nfs/<server>/exports`) and a kernel argument. */
const nfsServer = matching((t) => parseIPv4(t) !== undefined || (!/^[\d.]+$/.test(t) && isHostName(t)), (q) => `${q} is neither an IPv4 address nor a host name`)

const netbootSchema = strict({
  server: ipv4,
  dhcp: z.discriminatedUnion('mode', [
    strict({ mode: z.literal('proxy'), network: ipv4 }),
    strict({ mode: z.literal('range'), start: ipv4, end: ipv4, netmask, router: ipv4.optional(), dns: z.array(ipv4) }),
  ]),
  nfs: strict({ server: nfsServer, path: plainPath }),
  // A record written before rootSquash existed: the default it had (root squashed unless the accounts are shared).
  shared: strict({ path, mount: path, accounts: z.boolean(), rootSquash: z.boolean().optional() })
    .transform(({ path, mount, accounts, rootSquash }) => ({ path, mount, accounts, rootSquash: rootSquash ?? !accounts }))
    .optional(),
  interface: matching((t) => /^[^\s/:,"#\\]{1,15}$/.test(t) && !CONTROL.test(t), (q) => `${q} is not a network interface name`).optional(),
  log: plainPath.optional(),
  persist: z.array(field(checkPersistPath)).optional(),
  root: z.enum(['overlay', 'squashfs', 'ram']).optional(),
  nfsTier: z.array(strict({ server: nfsServer, path: plainPath })).min(2, 'must list two NFS servers or more').optional(),
  bootLinkMbps: z.number({ error: 'must be a number of Mbit/s' }).int('must be a whole number of Mbit/s').min(10, 'must be 10 to 800000 Mbit/s').max(800_000, 'must be 10 to 800000 Mbit/s').optional(),
  pi3Server: ipv4.optional(),
})

/** Bytes of boot files: whole, and below what no boot server holds (1 TiB). */
const bootBytes = z.number({ error: 'must be a number of bytes' }).int('must be a whole number of bytes').min(1, 'must be 1 byte to 1 TiB').max(2 ** 40, 'must be 1 byte to 1 TiB')

const nodeSchema = strict({
  hostname: matching(isNodeHostname, (q) => `${q} is not a valid host name (lower-case letters, digits and "-", not at either end, at most 63 characters)`),
  mac: matching((t) => normalizeMac(t) === t, (q) => `${q} is not a MAC address as pibake writes it (like dc:a6:32:01:02:03)`),
  ip: ipv4.optional(),
  serial: matching((t) => normalizeSerial(t) === t, (q) => `${q} is not a board serial number as pibake writes it (8 or 16 lower-case hex digits)`).optional(),
  model: field((t) => {
    const parsed = parseModel(t)
    return 'model' in parsed ? { value: parsed.model } : parsed
  }),
  nfs: nfsServer.optional(),
  pinned: z.literal(true).optional(),
})

const destinationSchema = z.discriminatedUnion('kind', [
  strict({ kind: z.literal('local'), path }),
  strict({
    kind: z.literal('ssh'),
    user: field((t) => problemOr(t, sshUserProblem(t))),
    host: field((t) => problemOr(t, sshHostProblem(t))),
    port: z.number().int().min(1, 'must be a TCP port, 1 to 65535').max(65535, 'must be a TCP port, 1 to 65535'),
    path,
    identity: path.optional(),
    knownHosts: plainPath,
  }),
])

const buildSchema = strict({
  id: buildIdField,
  created: isoTime,
  bytes: z.number().int().min(0).optional(),
  live: z.array(strict({ from: isoTime, until: isoTime.optional() })),
  servers: z.array(nfsServer).optional(),
})

const recordSchema = strict({
  format: z.literal(RECORD_FORMAT),
  recipe: matching(isRecipeName, (q) => `${q} is not a recipe name (lower-case letters, digits and "-", not starting with "-", at most 63 characters)`),
  file: path,
  netboot: netbootSchema,
  nodes: z.array(nodeSchema),
  where: strict({ nfs: destinationSchema, tftp: destinationSchema, nfsTier: z.array(destinationSchema).min(2, 'must list two destinations or more, one per NFS server').optional() }),
  live: buildIdField.optional(),
  builds: z.array(buildSchema),
  keep: strict({ builds: z.number().int().min(1, 'must keep at least the live build (1)'), days: z.number().min(0, 'must be 0 or more days') }),
  updated: isoTime,
  drained: z.array(nfsServer).optional(),
  boot: strict({ largestFile: bootBytes, bytesPerNode: bootBytes }).optional(),
})

function problemOr(text: string, problem: string | undefined): { value: string } | { problem: string } {
  return problem === undefined ? { value: text } : { problem }
}

/**
 * `value` as the site record of `recipe` (the name its file has), or every reason it is not one,
 * each naming its field (`builds[2].id: "../../etc" is not a build id …`).
 */
export function parseSiteRecord(value: unknown, recipe: string): { record: SiteRecord } | { problems: string[] } {
  const parsed = recordSchema.safeParse(value, { error: messageFor })
  if (!parsed.success) return { problems: problemsFromIssues(parsed.error.issues).map((p) => `${p.path.length ? formatPath(p.path) : 'the record'}: ${p.message}`) }
  const record: SiteRecord = parsed.data
  const problems = relations(record, recipe)
  return problems.length ? { problems } : { record }
}

/** What the fields must say of each other: the recipe is the file's, the live build is one of its builds. */
function relations(record: SiteRecord, recipe: string): string[] {
  const problems: string[] = []
  if (record.recipe !== recipe) problems.push(`recipe: ${JSON.stringify(record.recipe)} is not the recipe the file is named for (${JSON.stringify(recipe)})`)
  const ids = record.builds.map((b) => b.id)
  ids.forEach((id, i) => {
    if (ids.indexOf(id) !== i) problems.push(`builds[${i}].id: ${JSON.stringify(id)} is listed twice`)
  })
  if (record.live !== undefined && !ids.includes(record.live)) problems.push(`live: ${JSON.stringify(record.live)} is not one of the record's builds`)
  return [...problems, ...tierRelations(record)]
}

/** With several NFS servers: one destination each, and every node, build and drained server naming one of them. */
function tierRelations(record: SiteRecord): string[] {
  const servers = record.netboot.nfsTier?.map((s) => s.server) ?? []
  const problems: string[] = []
  const known = (where: string, name: string) => {
    if (!servers.includes(name)) problems.push(`${where}: ${JSON.stringify(name)} is not one of the record's NFS servers (${servers.join(', ') || 'it has one, netboot.nfs'})`)
  }
  if (servers.length && record.where.nfsTier?.length !== servers.length) problems.push(`where.nfsTier: must list one destination for each of the ${servers.length} NFS servers`)
  if (!servers.length && record.where.nfsTier) problems.push('where.nfsTier: the record names one NFS server (netboot.nfs)')
  record.nodes.forEach((node, i) => {
    if (node.nfs !== undefined) known(`nodes[${i}].nfs`, node.nfs)
    else if (servers.length) problems.push(`nodes[${i}].nfs: missing (the node's NFS server)`)
  })
  record.builds.forEach((build, i) => build.servers?.forEach((s, j) => known(`builds[${i}].servers[${j}]`, s)))
  record.drained?.forEach((s, i) => known(`drained[${i}]`, s))
  return problems
}
