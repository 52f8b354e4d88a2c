/** The initramfs-tools files of the root modes: valid shell, every mode's modules in the hook, every mode handled. */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ROOT_MODES, ROOT_NEEDS } from '../../src/roots/modes.ts'
import { BOOT_SCRIPT, HOOK_SCRIPT } from '../../src/roots/script.ts'
import { exec } from '../../src/system/exec.ts'

test('both scripts parse as POSIX shell (dash -n)', async () => {
  await exec(['dash', '-n'], { input: BOOT_SCRIPT })
  await exec(['dash', '-n'], { input: HOOK_SCRIPT })
})

test('the hook puts every module a mode needs, and busybox, in the initramfs', () => {
  const line = /^manual_add_modules (.*)$/m.exec(HOOK_SCRIPT)?.[1]?.split(' ') ?? []
  for (const mode of ROOT_MODES) for (const module of ROOT_NEEDS[mode].modules) assert.ok(line.includes(module), `${mode} needs ${module}`)
  assert.match(HOOK_SCRIPT, /^copy_exec \/bin\/busybox \/bin\/busybox$/m)
})

test('the boot script leaves nfs alone and sets up each other mode with its modules', () => {
  assert.match(BOOT_SCRIPT, /^case "\$mode" in '' \| nfs\) exit 0 ;; esac$/m)
  for (const mode of ROOT_MODES.filter((m) => m !== 'nfs')) {
    assert.match(BOOT_SCRIPT, new RegExp(`^${mode}\\) modules="${ROOT_NEEDS[mode].modules.join(' ')}" ;;$`, 'm'))
    assert.match(BOOT_SCRIPT, new RegExp(`^lower_${mode}\\(\\) \\{$`, 'm'))
  }
})

test.run()
