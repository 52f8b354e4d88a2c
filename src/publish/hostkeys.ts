/**
 * SSH host keys made in this process, in the files `ssh-keygen` writes: the private key in
 * OpenSSH's own format (`openssh-key-v1`, unencrypted) and the public key as one
 * `<type> <base64> <comment>` line. Node's crypto generates the key pair on libuv's thread pool, so
 * many keys are made at once on every core without a process each (ssh-keygen costs a process and
 * ~10 ms per ed25519 key, which is most of a thousand-node fleet's first build).
 */
import { generateKeyPair, randomBytes, type JsonWebKey } from 'node:crypto'
import { promisify } from 'node:util'
import type { HostKeyType } from '../recipe/types.ts'

const generate = promisify(generateKeyPair)

export interface HostKey {
  /** The private key file's text (`-----BEGIN OPENSSH PRIVATE KEY-----`…). */
  readonly privateKey: string
  /** The `.pub` file's line, with its newline. */
  readonly publicKey: string
}

/** What `ssh-keygen -t <type>` makes by default: ed25519, ECDSA on P-256, RSA of 3072 bits. */
export async function generateHostKey(type: HostKeyType, comment: string): Promise<HostKey> {
  const jwk = await jwkPair(type)
  const { name, publicParts, privateParts } = sshParts(type, jwk)
  const publicBlob = concat([sshString(name), ...publicParts])
  const check = randomBytes(4)
  const body = concat([check, check, sshString(name), ...privateParts, sshString(comment)])
  const padding = Buffer.from(Array.from({ length: (8 - (body.length % 8)) % 8 }, (_, i) => i + 1))
  const file = concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'), // cipher
    sshString('none'), // kdf
    sshString(Buffer.alloc(0)), // kdf options
    uint32(1), // one key
    sshString(publicBlob),
    sshString(concat([body, padding])),
  ])
  const lines = file.toString('base64').match(/.{1,70}/g) ?? []
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `${name} ${publicBlob.toString('base64')} ${comment}\n`,
  }
}

async function jwkPair(type: HostKeyType): Promise<JsonWebKey> {
  const encoding = { publicKeyEncoding: { format: 'jwk' }, privateKeyEncoding: { format: 'jwk' } } as const
  const pair =
    type === 'ed25519' ? await generate('ed25519', encoding)
    : type === 'ecdsa' ? await generate('ec', { namedCurve: 'P-256', ...encoding })
    : await generate('rsa', { modulusLength: 3072, publicExponent: 0x10001, ...encoding })
  return pair.privateKey as unknown as JsonWebKey
}

/** The key's name and its fields, in the order OpenSSH's key formats list them (RFC 4253, 5656, 8709). */
function sshParts(type: HostKeyType, jwk: JsonWebKey): { name: string; publicParts: Buffer[]; privateParts: Buffer[] } {
  const b = (field: string | undefined) => Buffer.from(field ?? '', 'base64url')
  if (type === 'ed25519') {
    const pub = sshString(b(jwk.x))
    // The private key field is the 32-byte seed followed by the public key.
    return { name: 'ssh-ed25519', publicParts: [pub], privateParts: [pub, sshString(concat([b(jwk.d), b(jwk.x)]))] }
  }
  if (type === 'ecdsa') {
    const curve = sshString('nistp256')
    const point = sshString(concat([Buffer.from([4]), b(jwk.x), b(jwk.y)]))
    return { name: 'ecdsa-sha2-nistp256', publicParts: [curve, point], privateParts: [curve, point, mpint(b(jwk.d))] }
  }
  const [n, e] = [mpint(b(jwk.n)), mpint(b(jwk.e))]
  // JWK's qi is q⁻¹ mod p, OpenSSH's iqmp.
  return { name: 'ssh-rsa', publicParts: [e, n], privateParts: [n, e, mpint(b(jwk.d)), mpint(b(jwk.qi)), mpint(b(jwk.p)), mpint(b(jwk.q))] }
}

function uint32(value: number): Buffer {
  const buffer = Buffer.alloc(4)
  buffer.writeUInt32BE(value)
  return buffer
}

function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value
  return concat([uint32(bytes.length), bytes])
}

/** An unsigned big-endian integer as an SSH mpint: no leading zeros, one zero byte when the top bit is set. */
function mpint(bytes: Buffer): Buffer {
  let start = 0
  while (start < bytes.length && bytes[start] === 0) start++
  const trimmed = bytes.subarray(start)
  return sshString(trimmed.length && trimmed[0]! & 0x80 ? concat([Buffer.from([0]), trimmed]) : trimmed)
}

function concat(parts: readonly Buffer[]): Buffer {
  return Buffer.concat(parts)
}
