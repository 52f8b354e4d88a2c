/**
 * Cancelling a demo build while debootstrap runs emulated programs in the target (with /proc
 * mounted there) leaves nothing behind: no mount, no process, no work folder, nothing that looks
 * like a finished image. Takes about half a minute (its own folder, so it downloads the packages).
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readdir, readlink, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { buildDemoImage } from '../../src/demo/build.ts'
import { mountsUnder } from '../../src/system/mount.ts'

const dir = join(import.meta.dirname, '../../out/demo-abort')

/** Processes whose root or working folder is inside `prefix`. */
async function processesIn(prefix: string): Promise<string[]> {
  const found: string[] = []
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    for (const link of ['root', 'cwd']) {
      const target = await readlink(`/proc/${pid}/${link}`).catch(() => '')
      if (target.startsWith(prefix)) found.push(`${pid} ${link} ${target}`)
    }
  }
  return found
}

test('a build aborted during debootstrap leaves no mount, process, work folder or image', async () => {
  await rm(dir, { recursive: true, force: true })
  const controller = new AbortController()
  const lines: string[] = []
  const onLine = (line: string) => {
    lines.push(line)
    if (/^I: (Unpacking|Configuring) required packages/.test(line)) controller.abort()
  }
  try {
    const error = await buildDemoImage({ arch: 'arm64', outDir: dir, signal: controller.signal, onLine }).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(controller.signal.aborted, `the build reached debootstrap's second stage:\n${lines.slice(-5).join('\n')}`)
    assert.ok(error instanceof Error, 'the build failed')
    assert.match(String(error), /cancel/)
    assert.equal(await mountsUnder(dir), [])
    assert.equal(await processesIn(dir), [])
    const left = (await readdir(dir)).filter((name) => !name.startsWith('apt-cache-'))
    assert.equal(left, [], 'only the package cache stays')
  } finally {
    // Never rm -rf through a mount point.
    if ((await mountsUnder(dir)).length === 0) await rm(dir, { recursive: true, force: true })
  }
})

test.run()
