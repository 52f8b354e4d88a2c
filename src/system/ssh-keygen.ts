/**
 * ssh-keygen's signatures (`-Y sign`, `-Y find-principals`, `-Y verify`): a file signed with an SSH
 * key, checked against an allowed-signers file (see ssh-keygen(1), "ALLOWED SIGNERS"). No crypto
 * of pibake's own: OpenSSH signs and checks.
 */
import { CommandError, PibakeError } from '../errors.ts'
import { exec } from './exec.ts'

/**
 * Signs `file` with `key` (a private key without a passphrase, or the public half of a key loaded
 * in ssh-agent) for `namespace`; ssh-keygen writes the signature to `<file>.sig`.
 */
export async function signFile(key: string, namespace: string, file: string, signal?: AbortSignal): Promise<void> {
  await exec(['ssh-keygen', '-q', '-Y', 'sign', '-f', key, '-n', namespace, '--', file], {
    signal,
    hint: `the signing key ${key} must be a private key without a passphrase, or the .pub of a key loaded in ssh-agent (ssh-add)`,
  })
}

/** Why a signature was refused: ssh-keygen's own words. */
export class SignatureError extends PibakeError {}

/**
 * Checks that `signature` (the text of a `.sig` file) signs the contents of `file` for `namespace`
 * with a key `allowedSigners` lists. Returns the principal it lists for that key; throws a
 * SignatureError when no listed key made it, or when the signature does not match the file.
 */
export async function verifySignature(allowedSigners: string, namespace: string, signatureFile: string, file: string, signal?: AbortSignal): Promise<string> {
  const found = await exec(['ssh-keygen', '-Y', 'find-principals', '-f', allowedSigners, '-n', namespace, '-s', signatureFile], { signal, okCodes: [255] })
  const principal = found.exitCode === 0 ? found.stdout.split('\n')[0]?.trim() : undefined
  if (!principal) throw new SignatureError(`the signature ${signatureFile} was not made by a key ${allowedSigners} allows for ${namespace}${reason(found.stderr)}`)
  try {
    await exec(['ssh-keygen', '-Y', 'verify', '-f', allowedSigners, '-I', principal, '-n', namespace, '-s', signatureFile], { signal, inputFile: file })
  } catch (error) {
    if (!(error instanceof CommandError)) throw error
    throw new SignatureError(`the signature ${signatureFile} does not match ${file}${reason(error.stderrTail)}`)
  }
  return principal
}

function reason(stderr: string): string {
  const line = stderr.trim().split('\n').at(-1)
  return line ? ` (ssh-keygen: ${line})` : ''
}
