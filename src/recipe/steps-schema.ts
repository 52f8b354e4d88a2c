/**
 * The schema of `customize` steps: one strict object per `kind`, each field checked on its own
 * so that a bad field is named by its path (`customize[2].mode`).
 */
import { existsSync, statSync } from 'node:fs'
import { posix } from 'node:path'
import * as z from 'zod'
import { resolvePath, type Checked } from './files.ts'
import { field, matching, strict } from './fields.ts'
import type { Owner } from './steps.ts'

const NAME = /^[a-z_][a-z0-9_-]*\$?$/
const PACKAGE = /^[a-z0-9][a-z0-9+.-]*(:[a-z0-9-]+)?([=/][A-Za-z0-9.+~:_-]+)?$/
const UNIT_SUFFIXES = ['service', 'socket', 'timer', 'target', 'mount', 'automount', 'path', 'swap', 'slice', 'scope', 'device']
const SSH_KEY = /^(\S+ +)?(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)(-cert-v01@openssh\.com)? +[A-Za-z0-9+/]+=*( .*)?$/

const packageName = matching((t) => PACKAGE.test(t), (q) => `${q} is not a Debian package name`)

const accountName = matching(
  (t) => NAME.test(t) && t.length <= 32,
  (q) => `${q} is not a valid user or group name (lower-case letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters)`,
)

const id = z.number().int('must be a whole number').min(0, 'must be 0 or more').max(4294967294, 'must be below 4294967295')

/** An absolute path inside the image, normalised; `/` itself is refused where a file is meant. */
const imagePath = field<string>((text) => {
  if (!text.startsWith('/')) return { problem: `${JSON.stringify(text)} must be an absolute path in the image` }
  const path = posix.normalize(text).replace(/(.)\/$/, '$1')
  return path === '/' ? { problem: 'must be a path below /, not / itself' } : { value: path }
})

/** `'0644'`, `'755'`, or a number below 0o1000 (`0o644`); 644 (decimal) is refused as the mistake it is. */
const mode = z.union([z.string(), z.number()]).transform((value, ctx): number => {
  const parsed = parseMode(value)
  if ('value' in parsed) return parsed.value
  ctx.issues.push({ code: 'custom', message: parsed.problem, input: value, params: { hint: parsed.hint } })
  return z.NEVER
})

const MODE_HINT = "write modes as a string of octal digits, like '0644' or '4755' (or an octal number such as 0o644)"

export function parseMode(value: string | number): Checked<number> {
  if (typeof value === 'string') {
    if (/^[0-7]{3,4}$/.test(value)) return { value: parseInt(value, 8) }
    return { problem: `${JSON.stringify(value)} is not a mode (3 or 4 octal digits, like "0644")`, hint: MODE_HINT }
  }
  if (!Number.isInteger(value) || value < 0) return { problem: `${value} is not a mode`, hint: MODE_HINT }
  if (value < 0o1000) return { value }
  const octal = /^[0-7]{3,4}$/.test(String(value)) ? ` (did you mean '${value}'? as a number, ${value} is 0o${value.toString(8)})` : ''
  return { problem: `${value} is not a mode${octal}`, hint: MODE_HINT }
}

const owner = field<Owner>((text) => {
  const [user = '', group, extra] = text.split(':')
  const ok = (part: string) => NAME.test(part) || /^\d+$/.test(part)
  if (extra !== undefined || !ok(user) || (group !== undefined && !ok(group))) {
    return { problem: `${JSON.stringify(text)} is not an owner (user or user:group, names or numeric ids)` }
  }
  return { value: group === undefined ? { user } : { user, group } }
})

function hostPath(dir: string, want: 'file' | 'any') {
  return field<string>((text) => {
    const path = resolvePath(dir, text)
    const hint = `paths in a recipe are relative to the recipe's folder, ${dir}`
    if (!existsSync(path)) return { problem: `${path} does not exist`, hint }
    const stats = statSync(path)
    if (want === 'file' && !stats.isFile()) return { problem: `${path} is not a file` }
    if (!stats.isFile() && !stats.isDirectory()) return { problem: `${path} is neither a file nor a folder` }
    return { value: path }
  })
}

const unit = field<string>((text) => {
  if (!/^[A-Za-z0-9:_.\\@-]+$/.test(text)) return { problem: `${JSON.stringify(text)} is not a systemd unit name` }
  const suffix = text.slice(text.lastIndexOf('.') + 1)
  return { value: text.includes('.') && UNIT_SUFFIXES.includes(suffix) ? text : `${text}.service` }
})

const PASSWORD_HINT = "make a hash with mkpasswd --method=yescrypt (package whois) or openssl passwd -6, and put the hash ('$y$…') in the recipe"

const passwordHash = z.string().transform((text, ctx): string => {
  if (/^\$(y|gy|7|6|5|2[abxy])\$[./A-Za-z0-9$=,]+$/.test(text)) return text
  const problem = /^\$1\$/.test(text)
    ? 'an MD5 crypt hash ($1$), too weak to accept: use yescrypt ($y$) or SHA-512 ($6$)'
    : 'not a crypt hash: pibake never puts a plain-text password in an image'
  ctx.issues.push({ code: 'custom', message: problem, input: '(hidden)', params: { hint: PASSWORD_HINT } })
  return z.NEVER
})

const sshKey = matching(
  (t) => SSH_KEY.test(t) && !/[\r\n]/.test(t),
  (q) => (q.includes('PRIVATE KEY') ? 'is a private key: give the public key (the .pub file\'s line)' : `${q.length > 40 ? `${q.slice(0, 37)}..."` : q} is not an SSH public key line (type, base64 key, comment)`),
)

const absolute = field<string>((text) =>
  text.startsWith('/') ? { value: posix.normalize(text).replace(/(.)\/$/, '$1') } : { problem: `${JSON.stringify(text)} must be an absolute path` },
)

const comment = matching((t) => !/[:\r\n]/.test(t), (q) => `${q} must not contain ":" or a line break`)

const userSchema = strict({
  name: accountName,
  uid: id.optional(),
  gid: id.optional(),
  password: passwordHash.optional(),
  shell: absolute.default('/bin/bash'),
  home: absolute.optional(),
  comment: comment.optional(),
  groups: z.array(accountName).default([]),
  sshKeys: z.array(sshKey).default([]),
}).transform(({ home, ...user }) => ({ ...user, home: home ?? `/home/${user.name}` }))

const groupSchema = strict({ name: accountName, gid: id.optional(), system: z.boolean().default(false) })

/** No two entries of a list with the same name. */
function uniqueNames<T extends { name: string }>(item: z.ZodType<T, unknown>) {
  return z.array(item).superRefine((items, ctx) => {
    const seen = new Set<string>()
    items.forEach((entry, i) => {
      if (seen.has(entry.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `${entry.name} is listed twice` })
      seen.add(entry.name)
    })
  })
}

function unitsStep<K extends 'enable' | 'disable' | 'mask'>(kind: K) {
  return strict({ kind: z.literal(kind), units: z.array(unit).min(1, 'name at least one unit') })
}

/** One step of `customize`; `dir` is the recipe's folder, which `copy` and `script` paths start from. */
export function stepSchema(dir: string) {
  return z.discriminatedUnion('kind', [
    strict({
      kind: z.literal('packages'),
      install: z.array(packageName).default([]),
      upgrade: z.boolean().default(false),
      recommends: z.boolean().default(false),
    }).refine((step) => step.install.length > 0 || step.upgrade, 'give install (package names), upgrade: true, or both'),
    strict({ kind: z.literal('remove'), packages: z.array(packageName).min(1, 'name at least one package') }),
    strict({ kind: z.literal('run'), command: matching((t) => t.trim() !== '', () => 'must not be empty') }),
    strict({ kind: z.literal('script'), path: hostPath(dir, 'file'), args: z.array(z.string()).default([]) }),
    strict({ kind: z.literal('copy'), from: hostPath(dir, 'any'), to: imagePath, mode: mode.optional(), owner: owner.default({ user: 'root', group: 'root' }) }),
    strict({ kind: z.literal('write'), path: imagePath, content: z.string(), mode: mode.default(0o644), owner: owner.default({ user: 'root', group: 'root' }) }),
    unitsStep('enable'),
    unitsStep('disable'),
    unitsStep('mask'),
    strict({ kind: z.literal('users'), users: uniqueNames(userSchema).min(1, 'list at least one user') }),
    strict({ kind: z.literal('groups'), groups: uniqueNames(groupSchema).min(1, 'list at least one group') }),
  ])
}

export type ParsedStep = z.output<ReturnType<typeof stepSchema>>
