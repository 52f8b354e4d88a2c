/**
 * The recipe's `customize` steps: what people write (`CustomizeStepInput`, a union on `kind`,
 * every field documented) and what pibake runs (`CustomizeStep`: validated, defaults applied,
 * paths absolute, each step knowing where in the recipe it was written).
 */

/**
 * Installs packages with apt inside the image (or upgrades everything). Downloaded packages are
 * kept in `<out>/cache/apt/<arch>/` and reused; nothing of apt's lists or archives stays in the image.
 */
export interface PackagesStepInput {
  kind: 'packages'
  /** Debian package names, as apt-get takes them (`nfs-common`, `less=590-2`, `tree/bookworm`). */
  install?: string[]
  /** Upgrade every installed package first (`apt-get dist-upgrade`). Default false. */
  upgrade?: boolean
  /** Install the packages' recommended packages too. Default false, as on a server. */
  recommends?: boolean
}

/** Removes packages and their configuration (`apt-get purge --auto-remove`). */
export interface RemoveStepInput {
  kind: 'remove'
  /** Names of installed packages. */
  packages: string[]
}

/** Runs one shell line inside the image, as root, with `sh -euc <command>`: the first failing command stops it. */
export interface RunStepInput {
  kind: 'run'
  /** The shell line, e.g. `"echo 'dtoverlay=disable-bt' >> /boot/firmware/config.txt"`. */
  command: string
}

/**
 * Runs a script from the recipe's folder inside the image, as root: it is copied in, run from
 * there (by its `#!` line, or by `/bin/sh` without one) and removed.
 */
export interface ScriptStepInput {
  kind: 'script'
  /** The script file, relative to the recipe's folder. */
  path: string
  /** Arguments given to the script. */
  args?: string[]
}

/** Permission bits: a string of octal digits (`'0644'`, `'4755'`) or an octal number below 0o1000 (`0o644`). */
export type ModeInput = string | number

/**
 * Copies a file or a folder from the recipe's folder into the image. A folder's contents are
 * merged into the destination folder (created when missing).
 */
export interface CopyStepInput {
  kind: 'copy'
  /** The file or folder to copy, relative to the recipe's folder. */
  from: string
  /** Absolute destination path in the image: the file itself (or the folder to copy into). */
  to: string
  /**
   * Permission bits of the copied file; for a folder, of every file in it (folders keep theirs).
   * Default: the source's own permission bits.
   */
  mode?: ModeInput
  /** `user` or `user:group`, names from the image (or made by earlier steps) or numeric ids. Default `root:root`. */
  owner?: string
}

/** Writes a text file in the image (replacing it if it exists). */
export interface WriteStepInput {
  kind: 'write'
  /** Absolute path in the image. */
  path: string
  /** The file's text, written as given (add the final newline yourself). */
  content: string
  /** Permission bits. Default `'0644'`. */
  mode?: ModeInput
  /** `user` or `user:group`, names from the image or numeric ids. Default `root:root`. */
  owner?: string
}

/**
 * `enable`: systemd units started at boot (their `[Install]` section's wants-links). `disable`:
 * those links removed. `mask`: units that can never start (linked to /dev/null). Done offline
 * with the image's own `systemctl`: nothing starts at build time.
 */
export interface UnitsStepInput {
  kind: 'enable' | 'disable' | 'mask'
  /** Unit names, e.g. `ssh.service`, `rpcbind.socket` (`ssh` means `ssh.service`). */
  units: string[]
}

export interface UserInput {
  /** Login name: lower-case letters, digits, `_` and `-`, starting with a letter or `_`, at most 32 characters. */
  name: string
  /** User id. Default: the next free one. An existing user must already have it. */
  uid?: number
  /** Primary group id: that group when it exists, else a new group named like the user. Default: a new group like the user. */
  gid?: number
  /**
   * Password as a crypt hash (`$y$…` yescrypt, `$6$…` SHA-512, `$5$…`, `$2b$…`), e.g. from
   * `mkpasswd --method=yescrypt`. Plain text is refused. Default: no password (login by SSH key only).
   */
  password?: string
  /** Login shell, absolute. Default `/bin/bash`. */
  shell?: string
  /** Home folder, absolute. Default `/home/<name>`, created from `/etc/skel`. */
  home?: string
  /** Full name or other GECOS text (no `:` or line breaks). */
  comment?: string
  /** Supplementary groups (they must exist in the image or be made by an earlier `groups` step), e.g. `['sudo', 'video']`. */
  groups?: string[]
  /** Public keys for `~/.ssh/authorized_keys` (mode 0600, owned by the user), one `ssh-ed25519 AAAA… comment` line each. */
  sshKeys?: string[]
}

/** Creates users (or brings existing ones to what is given) in `/etc/passwd`, `/etc/shadow` and `/etc/group`. */
export interface UsersStepInput {
  kind: 'users'
  users: UserInput[]
}

export interface GroupInput {
  /** Group name, the same rules as user names. */
  name: string
  /** Group id. Default: the next free one. An existing group must already have it. */
  gid?: number
  /** A system group (id below 1000). Default false. */
  system?: boolean
}

/** Creates groups. */
export interface GroupsStepInput {
  kind: 'groups'
  groups: GroupInput[]
}

/** One customisation step; steps run in the order they are listed. */
export type CustomizeStepInput =
  | PackagesStepInput
  | RemoveStepInput
  | RunStepInput
  | ScriptStepInput
  | CopyStepInput
  | WriteStepInput
  | UnitsStepInput
  | UsersStepInput
  | GroupsStepInput

/* ---- Resolved, validated form ---- */

/** Where a step was written: the recipe file, and its line when the recipe's source shows it. */
export interface StepLocation {
  readonly file: string
  readonly line?: number
}

interface StepBase {
  /** Position in `customize` (`customize[index]`). */
  readonly index: number
  readonly at: StepLocation
}

export interface PackagesStep extends StepBase {
  readonly kind: 'packages'
  readonly install: readonly string[]
  readonly upgrade: boolean
  readonly recommends: boolean
}

export interface RemoveStep extends StepBase {
  readonly kind: 'remove'
  readonly packages: readonly string[]
}

export interface RunStep extends StepBase {
  readonly kind: 'run'
  readonly command: string
}

export interface ScriptStep extends StepBase {
  readonly kind: 'script'
  /** Absolute path of the script on this machine. */
  readonly path: string
  readonly args: readonly string[]
}

/** An owner as written: names are looked up in the image when the step runs. */
export interface Owner {
  readonly user: string
  /** Undefined: the user's primary group. */
  readonly group?: string
}

export interface CopyStep extends StepBase {
  readonly kind: 'copy'
  /** Absolute path on this machine. */
  readonly from: string
  /** Absolute path in the image. */
  readonly to: string
  readonly mode?: number
  readonly owner: Owner
}

export interface WriteStep extends StepBase {
  readonly kind: 'write'
  readonly path: string
  readonly content: string
  readonly mode: number
  readonly owner: Owner
}

export interface UnitsStep extends StepBase {
  readonly kind: 'enable' | 'disable' | 'mask'
  /** Full unit names (`ssh.service`). */
  readonly units: readonly string[]
}

export interface User {
  readonly name: string
  readonly uid?: number
  readonly gid?: number
  readonly password?: string
  readonly shell: string
  readonly home: string
  readonly comment?: string
  readonly groups: readonly string[]
  readonly sshKeys: readonly string[]
}

export interface UsersStep extends StepBase {
  readonly kind: 'users'
  readonly users: readonly User[]
}

export interface Group {
  readonly name: string
  readonly gid?: number
  readonly system: boolean
}

export interface GroupsStep extends StepBase {
  readonly kind: 'groups'
  readonly groups: readonly Group[]
}

export type CustomizeStep = PackagesStep | RemoveStep | RunStep | ScriptStep | CopyStep | WriteStep | UnitsStep | UsersStep | GroupsStep

export type StepKind = CustomizeStep['kind']
