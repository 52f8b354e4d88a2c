/** What `pibake doctor` checks and reports: one result per host prerequisite. */
import type { Recipe } from '../recipe/types.ts'

/**
 * `ok`: in place. `missing`: this recipe (or, without one, any build) cannot run without it.
 * `warning`: worth knowing, but a build can go on (a local site's servers, disk space).
 */
export type CheckStatus = 'ok' | 'missing' | 'warning'

export interface CheckResult {
  /** Short name of the prerequisite (`root`, `loop devices`, `qemu-aarch64`, `rsync`…). */
  readonly name: string
  readonly status: CheckStatus
  /** What was found. */
  readonly detail: string
  /** The Debian package to install or the command that fixes it, when not ok. */
  readonly fix?: string
}

/** Where the checks look: the real host by default, fake folders in unit tests. */
export interface DoctorContext {
  /** The recipe the host should be fit for; without one, every build's needs. */
  readonly recipe?: Recipe
  /** The out folder (resolved): its free space is checked. */
  readonly outDir: string
  /** Default `/proc`. */
  readonly proc: string
  /** Default `/proc/sys/fs/binfmt_misc`. */
  readonly binfmt: string
  readonly uid: number
}

/** One prerequisite: results (none when it does not apply to this recipe). */
export type Check = (ctx: DoctorContext) => Promise<readonly CheckResult[]>
