/**
 * Runs every test file (`test/**\/*.test.ts`, or the files/folders given) in its own Node process,
 * one after the other: each file's servers, mounts and loop devices are its own to start and stop.
 * Ends with the plain summary line `N passed, N failed`.
 */
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { spawn } from 'node:child_process'

const root = join(import.meta.dirname, '..')
const args = process.argv.slice(2)
const targets = args.length ? args : [join(root, 'test')]

function collect(path: string): string[] {
  if (statSync(path).isFile()) return [path]
  return readdirSync(path, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((entry) => {
      const full = join(path, entry.name)
      if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : collect(full)
      return entry.name.endsWith('.test.ts') ? [full] : []
    })
}

function runFile(file: string): Promise<{ passed: number; failed: number; skipped: number; code: number }> {
  return new Promise((resolve) => {
    // pibake-source: 'pibake' imported by a test (its recipe fixtures) is this checkout's src/index.ts, not the built dist/ (package.json "exports").
    const child = spawn(process.execPath, ['--conditions=pibake-source', file], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORCE_COLOR: '0' } })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      process.stdout.write(chunk)
    })
    child.on('close', (code) => {
      const totals = [...out.matchAll(/Total:\s+(\d+)\s+Passed:\s+(\d+)\s+Skipped:\s+(\d+)/g)]
      let passed = 0
      let failed = 0
      let skipped = 0
      for (const m of totals) {
        passed += Number(m[2])
        skipped += Number(m[3])
        failed += Number(m[1]) - Number(m[2])
      }
      if (code !== 0 && failed === 0) failed = 1
      resolve({ passed, failed, skipped, code: code ?? 1 })
    })
  })
}

let passed = 0
let failed = 0
let skipped = 0
const failedFiles: string[] = []
for (const file of targets.flatMap(collect)) {
  const name = relative(root, file)
  console.log(`\n# ${name}`)
  const started = Date.now()
  const result = await runFile(file)
  console.log(`# ${name}: ${result.passed} passed, ${result.failed} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  passed += result.passed
  failed += result.failed
  skipped += result.skipped
  if (result.failed) failedFiles.push(name)
}
if (failedFiles.length) console.log(`\nfailed: ${failedFiles.join(', ')}`)
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`)
process.exit(failed ? 1 : 0)
