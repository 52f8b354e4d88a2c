/**
 * `enable`, `disable` and `mask` steps: the image's own systemctl, run in the image where it
 * finds no running systemd and so only changes unit links (`multi-user.target.wants/…`).
 */
import type { UnitsStep } from '../recipe/types.ts'
import type { StepContext } from './context.ts'

export async function changeUnits(step: UnitsStep, ctx: StepContext): Promise<void> {
  await ctx.run(['systemctl', '--no-reload', '--no-ask-password', step.kind, '--', ...step.units], {
    hint: step.kind === 'enable' ? 'the unit must be installed in the image (by an earlier packages or copy step) and have an [Install] section' : undefined,
  })
}
