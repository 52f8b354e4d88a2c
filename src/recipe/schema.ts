/**
 * The shape of a recipe, as zod schemas: every field's type and format, unknown fields, and the
 * files a recipe names. Each field is checked on its own here (so that one bad field never hides
 * another); checks that relate fields to each other are in `relations.ts`.
 */
import { isAbsolute, posix } from 'node:path'
import * as z from 'zod'
import { DEFAULT_HOST_KEYS, DEFAULT_KEEP, HOST_KEY_TYPES, type Destination, type PublishTarget } from './types.ts'
import { bootTarballFile, checksumFor, existingFile, imageFile, overlayFolder, resolvePath, sha256Source, type Checked } from './files.ts'
import { isHostName, netmaskBits, parseIPv4 } from './ipv4.ts'
import { isNodeHostname, normalizeMac, normalizeSerial, parseModel } from './node.ts'
import { field, matching, strict } from './fields.ts'
import { stepSchema } from './steps-schema.ts'
import { persistList } from './persist.ts'
import { ROOT_MODES } from '../roots/modes.ts'
import { parseMemory } from '../roots/memory.ts'

const ipv4 = matching((t) => parseIPv4(t) !== undefined, (q) => `${q} is not an IPv4 address`)

const netmask = matching((t) => netmaskBits(t) !== undefined, (q) => `${q} is not a netmask (like 255.255.255.0)`)

/**
 * A path on a server or a node. It is written into cmdline.txt (`nfsroot=`), fstab, a systemd unit
 * or dnsmasq.conf, where white space starts a new argument, field or line: a space in
 * `netboot.nfs.path` would add a kernel argument, a line break in `shared.mount` an fstab line.
 */
function checkAbsolute(text: string): Checked<string> {
  const problem = oneFieldProblem(text)
  if (problem) return problem
  if (!isAbsolute(text)) return { problem: `${JSON.stringify(text)} must be an absolute path` }
  return { value: posix.normalize(text).replace(/(.)\/$/, '$1') }
}

const absolutePath = field(checkAbsolute)

/** The NFS root's folder: `nfsroot=<server>:<path>,vers=3` reads what follows a comma as mount options. */
const nfsRootPath = field((text) => (text.includes(',') ? { problem: `${JSON.stringify(text)} contains a comma: nfsroot= would read what follows it as NFS mount options` } : checkAbsolute(text)))

/** Why `text` cannot be one field of a command line, an fstab line or a unit: white space or a control character. */
export function oneFieldProblem(text: string): { problem: string; hint: string } | undefined {
  const hint = 'a path written into cmdline.txt, fstab or a unit cannot hold white space: rename the folder, or give one without it'
  const quoted = JSON.stringify(text)
  if (/[\r\n]/.test(text)) return { problem: `${quoted} contains a line break: it would add a line to the file it is written into`, hint }
  if (text.includes(' ')) return { problem: `${quoted} contains a space: it would split into two arguments where it is written`, hint }
  if (/[\s\x00-\x1f\x7f]/.test(text)) return { problem: `${quoted} contains a tab or control character: it would split or end the field it is written into`, hint }
  return undefined
}

const name = matching(
  (t) => /^[a-z0-9][a-z0-9-]*$/.test(t) && t.length <= 63,
  (q) => `${q} is not a valid name (lower-case letters, digits and "-", not starting with "-", at most 63 characters)`,
)

function imageSchema(dir: string) {
  return strict({
    path: field(imageFile(dir)),
    sha256: field(sha256Source(dir)),
    arch: z.enum(['arm64', 'armhf']).optional(),
    boot: strict({ path: field(bootTarballFile(dir)), sha256: field(sha256Source(dir)) }).optional(),
  }).transform((image, ctx) => {
    const sha256 = checksumFor(image.sha256, image.path)
    const bootSha256 = image.boot && checksumFor(image.boot.sha256, image.boot.path)
    let failed = false
    const problem = (path: string[], message: string, hint?: string) => {
      ctx.issues.push({ code: 'custom', path, message, input: image, ...(hint ? { params: { hint } } : {}) })
      failed = true
    }
    if ('problem' in sha256) problem(['sha256'], sha256.problem, sha256.hint)
    if (bootSha256 && 'problem' in bootSha256) problem(['boot', 'sha256'], bootSha256.problem, bootSha256.hint)
    if (image.boot && /\.img(\.xz)?$/.test(image.path)) problem(['boot'], 'goes with a root tarball in image.path: a disk image has its own boot partition')
    if (failed || 'problem' in sha256 || (bootSha256 && 'problem' in bootSha256)) return z.NEVER
    const boot = image.boot && bootSha256 ? { boot: { path: image.boot.path, sha256: bootSha256.value } } : {}
    return { path: image.path, sha256: sha256.value, ...(image.arch ? { arch: image.arch } : {}), ...boot }
  })
}

const dhcpSchema = z.discriminatedUnion('mode', [
  strict({ mode: z.literal('proxy'), network: ipv4 }),
  strict({
    mode: z.literal('range'),
    start: ipv4,
    end: ipv4,
    netmask: netmask.default('255.255.255.0'),
    router: ipv4.optional(),
    dns: z.array(ipv4).default([]),
  }).transform(({ router, ...dhcp }) => ({ ...dhcp, ...(router ? { router } : {}) })),
])

const nfsServerName = matching(
  (t) => parseIPv4(t) !== undefined || (!/^[\d.]+$/.test(t) && isHostName(t)),
  (q) => `${q} is neither an IPv4 address nor a host name`,
)

/** One NFS server of `netboot.nfs`: the one, or one of several (see src/recipe/nfs-tier.ts). */
const nfsServerSchema = strict({ server: nfsServerName, path: nfsRootPath.optional() })

const netbootSchema = strict({
  server: ipv4,
  dhcp: dhcpSchema,
  nfs: z.union([nfsServerSchema, z.array(nfsServerSchema).min(2, 'must list at least two NFS servers (or give the one as { server, path? })')], {
    error: 'must be one NFS server { server, path? } or a list of them [{ server, path? }, …]',
  }),
  shared: strict({
    path: absolutePath,
    mount: absolutePath.default('/shared'),
    accounts: z.boolean().default(false),
    rootSquash: z.boolean().optional(),
  }).optional(),
  interface: matching((t) => /^[^\s/:]{1,15}$/.test(t), (q) => `${q} is not a network interface name`).optional(),
  log: absolutePath.optional(),
  hostKeys: z
    .array(z.enum(HOST_KEY_TYPES))
    .min(1, `must list at least one host key type (${HOST_KEY_TYPES.join(', ')})`)
    .refine((types) => new Set(types).size === types.length, 'lists a host key type twice')
    .default([...DEFAULT_HOST_KEYS]),
  persist: persistList.optional(),
  root: z.enum(ROOT_MODES, { error: `must be one of ${ROOT_MODES.map((m) => `'${m}'`).join(', ')}` }).optional(),
  shrinkBoot: z.boolean({ error: 'must be true or false' }).optional(),
  bootLinkMbps: z
    .number({ error: 'must be a number of Mbit/s (1000 for 1 GbE, 10000 for 10 GbE)' })
    .int('must be a whole number of Mbit/s')
    .min(10, 'must be at least 10 Mbit/s')
    .max(800_000, 'must be at most 800000 Mbit/s (800 GbE)')
    .optional(),
  pi3Server: ipv4.optional(),
})

const nodeSchema = strict({
  hostname: matching(isNodeHostname, (q) => `${q} is not a valid host name (lower-case letters, digits and "-", not at either end, at most 63 characters)`),
  mac: field((t) => checked(normalizeMac(t), `${JSON.stringify(t)} is not a MAC address (like dc:a6:32:01:02:03)`)),
  serial: field((t) => checked(normalizeSerial(t), `${JSON.stringify(t)} is not a board serial number (8 or 16 hex digits)`)).optional(),
  ip: ipv4.optional(),
  model: field((t) => {
    const parsed = parseModel(t)
    return 'model' in parsed ? { value: parsed.model } : parsed
  }),
  cmdline: z.array(field(kernelArgument)).default([]),
  config: z.array(matching((t) => !/[\r\n]/.test(t), (q) => `${q} contains a line break: give each config.txt line as its own entry`)).default([]),
  memory: field((t) => checked(parseMemory(t), `${JSON.stringify(t)} is not an amount of memory (like '1GB', '8GB' or '512MB')`)).optional(),
  nfs: nfsServerName.optional(),
})

function checked<T>(value: T | undefined, problem: string): Checked<T> {
  return value === undefined ? { problem } : { value }
}

function kernelArgument(text: string): Checked<string> {
  if (/[\r\n]/.test(text)) return { problem: `${JSON.stringify(text)} contains a line break: give each kernel argument as its own entry` }
  if (/\s/.test(text)) return { problem: `${JSON.stringify(text)} contains a space: give each kernel argument as its own entry` }
  return { value: text }
}

/** `host` or `user@host`; neither may start with "-", which ssh would read as an option (`-oProxyCommand=…`). */
function sshHost(text: string): Checked<string> {
  if (!/^([^@\s\x00-\x1f\x7f]+@)?[^@\s\x00-\x1f\x7f/]+$/.test(text)) return { problem: `${JSON.stringify(text)} is not an SSH host (host or user@host)` }
  const at = text.lastIndexOf('@')
  const which = at > 0 && text.startsWith('-') ? 'user' : text[at + 1] === '-' ? 'host' : undefined
  if (which) return { problem: `${JSON.stringify(text)}: its ${which} starts with "-", which ssh would read as an option`, hint: 'a host or user name never starts with "-"' }
  return { value: text }
}

function destinationSchema(dir: string) {
  const local = field((text): Checked<Destination> => {
    const remote = /^([^/:]+):(.*)$/.exec(text)
    if (remote) {
      const suggestion = `{ host: ${JSON.stringify(remote[1])}, path: ${JSON.stringify(remote[2] || '/')} }`
      return { problem: `${JSON.stringify(text)} looks like an scp-style destination: write ${suggestion} for SSH` }
    }
    return { value: { kind: 'local', path: resolvePath(dir, text) } }
  })
  const ssh = strict({
    host: field(sshHost),
    path: absolutePath,
    port: z.number().int().min(1, 'must be a TCP port, 1 to 65535').max(65535, 'must be a TCP port, 1 to 65535').default(22),
    identity: field(existingFile(dir)).optional(),
    knownHosts: field(existingFile(dir)).optional(),
  }).transform(({ host, path, port, identity, knownHosts }): Destination => {
    const at = host.lastIndexOf('@')
    const user = at < 0 ? 'root' : host.slice(0, at)
    return { kind: 'ssh', user, host: host.slice(at + 1), port, path, knownHosts: knownHosts ?? resolvePath(dir, '~/.ssh/known_hosts'), ...(identity ? { identity } : {}) }
  })
  return z.union([local, ssh], { error: 'must be a local folder (a string) or an SSH destination { host, path, port?, identity?, knownHosts? }' })
}

function publishTargetSchema(dir: string) {
  const destination = destinationSchema(dir)
  const keep = strict({
    builds: z.number().int().min(1, 'must keep at least the live build (1)').default(DEFAULT_KEEP.builds),
    days: z.number().min(0, 'must be 0 or more days').default(DEFAULT_KEEP.days),
  }).default({ ...DEFAULT_KEEP })
  const command = matching((t) => t.trim() !== '' && !/[\r\n]/.test(t), (q) => `${q} must be one non-empty command line`)
  const reload = strict({ dnsmasq: command.optional(), exports: command.optional(), ganesha: command.optional(), hosts: command.optional() }).default({})
  const sign = strict({ key: field(existingFile(dir)) })
  const nfs = z.union([destination, z.array(destination).min(2, 'must list at least two destinations, one per server of netboot.nfs (or give the one)')])
  return strict({ nfs, tftp: destination, config: destination.optional(), keep, reload, sign: sign.optional() }).transform((target, ctx): PublishTarget => {
    const tier = Array.isArray(target.nfs) ? { nfs: target.nfs[0]!, nfsTier: target.nfs } : { nfs: target.nfs }
    const common = { ...tier, tftp: target.tftp, keep: target.keep, reload: definedOnly(target.reload), ...(target.sign ? { sign: target.sign } : {}) }
    if (target.config) return { ...common, config: target.config }
    if (target.tftp.path === '/') {
      ctx.issues.push({ code: 'custom', path: ['config'], message: 'required when tftp is / (its default is the folder beside the TFTP root)', input: target })
      return z.NEVER
    }
    return { ...common, config: { ...target.tftp, path: defaultConfigPath(target.tftp.path) }, formerConfig: target.tftp }
  })
}

/**
 * A target's configuration folder when `config` is left out: beside the TFTP root, never in it
 * (TFTP serves every file under its root to any host on the LAN: the records and dnsmasq.conf
 * name every node's MAC and address and the servers' `user@host`).
 */
export function defaultConfigPath(tftp: string): string {
  return `${tftp}-site`
}

function definedOnly<T extends Record<string, unknown>>(record: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> }
}

/** SOURCE_DATE_EPOCH as seconds: a whole number, not before 1970, within what a 64-bit time and a tar header hold. */
const epochSeconds = z.number().int('must be a whole number of seconds').min(0, 'must not be before 1970').max(8 ** 11 - 1, 'is too far in the future for a tar header (before 6053)')

/** SOURCE_DATE_EPOCH given as a UTC date or date and time: `2024-11-19`, `2024-11-19T12:00:00Z`. */
function epochDate(text: string): Checked<number> {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?Z?)?$/.exec(text)
  const [, y, mo, d, h = '0', mi = '0', s = '0'] = match ?? []
  const ms = match ? Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) : Number.NaN
  const back = new Date(ms)
  const valid = match && back.getUTCDate() === Number(d) && back.getUTCMonth() === Number(mo) - 1 && Number(h) < 24 && Number(mi) < 60 && Number(s) < 60 && ms >= 0
  if (!valid) return { problem: `${JSON.stringify(text)} is not a UTC date (like "2024-11-19" or "2024-11-19T12:00:00Z")`, hint: 'or give the seconds since 1970, e.g. sourceDateEpoch: 1732017600' }
  return { value: ms / 1000 }
}

/** The whole recipe; `dir` is the recipe's folder, which relative paths start from. */
export function recipeSchema(dir: string) {
  return strict({
    name,
    image: imageSchema(dir),
    overlays: z.array(field(overlayFolder(dir))).default([]),
    customize: z.array(stepSchema(dir)).default([]),
    netboot: netbootSchema,
    nodes: z.array(nodeSchema).min(1, 'at least one node is required'),
    publish: z.array(publishTargetSchema(dir)).min(1, 'must list at least one target (leave publish out for the default, out/publish)').optional(),
    sourceDateEpoch: z.union([epochSeconds, field(epochDate)], { error: 'must be seconds since 1970 (a whole number) or a UTC date like "2024-11-19"' }).optional(),
  })
}

export type ParsedRecipe = z.output<ReturnType<typeof recipeSchema>>
