/**
 * SFTP, for a host that has SSH but no rsync: a tree uploaded file by file (ssh2-sftp-client), the
 * host's key checked against the same known_hosts as OpenSSH's. It has no `--link-dest`: every file
 * is sent, so it serves the boot files (tens of MB), never a root filesystem.
 */
import { readFile, readdir, readlink, stat } from 'node:fs/promises'
import { join } from 'node:path'
import SftpClient from 'ssh2-sftp-client'
import { PibakeError } from '../errors.ts'
import { exec } from '../system/exec.ts'
import type { RsyncStats } from '../system/rsync.ts'
import type { SshConnection } from '../system/ssh.ts'
import type { SyncOptions } from './host.ts'

/** Uploads the contents of the local folder `source` into `dest` on the host. */
export async function sftpSync(dest: string, ssh: SshConnection, source: string, options: SyncOptions): Promise<RsyncStats> {
  const known = await knownKeys(ssh)
  const client = new SftpClient('pibake')
  const d = ssh.dest
  let offered = ''
  await client.connect({
    host: d.host,
    port: d.port,
    username: d.user,
    readyTimeout: 15_000,
    ...(d.identity ? { privateKey: await readFile(d.identity) } : process.env.SSH_AUTH_SOCK ? { agent: process.env.SSH_AUTH_SOCK } : {}),
    hostVerifier: (key: Buffer) => {
      offered = key.toString('base64')
      return known.has(offered)
    },
  } as SftpClient.ConnectOptions).catch(async (error: unknown) => {
    if (offered && !known.has(offered)) throw await ssh.explain(await ssh.run(['true']).catch((e: unknown) => e))
    throw new PibakeError(`SFTP to ${ssh.name} failed: ${(error as Error).message}`)
  })
  const stats = { files: 0, transferred: 0, literalBytes: 0, totalBytes: 0 }
  try {
    await upload(client, source, dest, stats, options)
  } finally {
    await client.end()
  }
  return stats
}

async function upload(client: SftpClient, from: string, to: string, stats: { files: number; transferred: number; literalBytes: number; totalBytes: number }, options: SyncOptions): Promise<void> {
  options.signal?.throwIfAborted()
  await client.mkdir(to, true)
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name)
    const target = `${to}/${entry.name}`
    stats.files++
    if (entry.isDirectory()) await upload(client, source, target, stats, options)
    else if (entry.isSymbolicLink()) await symlink(client, await readlink(source), target)
    else {
      const { size, mode } = await stat(source)
      await client.fastPut(source, target)
      await client.chmod(target, mode & 0o777)
      stats.transferred++
      stats.literalBytes += size
      stats.totalBytes += size
      options.onProgress?.(stats.totalBytes, 0, stats.transferred)
    }
  }
}

function symlink(client: SftpClient, target: string, path: string): Promise<void> {
  const sftp = (client as unknown as { sftp: { symlink(target: string, path: string, cb: (error?: Error) => void): void } }).sftp
  return new Promise((done, fail) => sftp.symlink(target, path, (error) => (error ? fail(error) : done())))
}

/** The base64 keys known_hosts lists for the destination (hashed entries included: ssh-keygen -F finds them). */
async function knownKeys(ssh: SshConnection): Promise<Set<string>> {
  const d = ssh.dest
  const name = d.port === 22 ? d.host : `[${d.host}]:${d.port}`
  const { stdout } = await exec(['ssh-keygen', '-F', name, '-f', d.knownHosts], { okCodes: [1] })
  return new Set(stdout.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => line.split(/\s+/)[2] ?? ''))
}
