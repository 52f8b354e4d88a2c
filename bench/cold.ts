/**
 * A cold build against the least a shell script must do for the same result: the demo image's
 * cluster-node recipe (4 nodes, no customize steps) built by the real CLI into a fresh `--out`,
 * against
 *
 *   xz -dc -T0 image.img.xz > image.img          decompress
 *   losetup --read-only --offset … ; mount -o ro,noload   the root partition
 *   cp -a <root>/. <dest>/root                    the one full copy
 *   mcopy -s -p -m -i image.img@@<offset> ::/* <dest>/boot   the boot files
 *
 * (no checksum, no netboot changes, no per-node folders, no server configuration). Rounds are
 * interleaved, their order alternating, so that both see the same load.
 *
 *   node bench/cold.ts [--rounds N]
 *
 * Prints each run, then the median seconds of each and pibake ÷ shell, as a table and as JSON.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { clean } from '../src/clean.ts'
import { buildDemoImage } from '../src/demo/build.ts'
import { exec } from '../src/system/exec.ts'
import { bootAndRoot, readPartitionTable } from '../src/system/partitions.ts'

const SHELL = `xz=$1 img=$2 dest=$3 mnt=$4 root_offset=$5 root_size=$6 boot_offset=$7
xz -dc -T0 "$xz" > "$img"
loop=$(losetup --find --show --read-only --offset "$root_offset" --sizelimit "$root_size" "$img")
mkdir -p "$mnt" "$dest/boot"
mount -o ro,noload "$loop" "$mnt"
cp -a "$mnt/." "$dest/root"
MTOOLS_SKIP_CHECK=1 mcopy -s -p -m -n -Q -i "$img@@$boot_offset" '::/*' "$dest/boot"
umount "$mnt"
losetup --detach "$loop"`

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' } } })
const rounds = Math.max(1, Number(values.rounds) || 1)
const repo = join(import.meta.dirname, '..')
const image = await buildDemoImage({ arch: 'arm64', outDir: join(repo, 'out/demo') })
const table = await readPartitionTable(image.img)
const { boot, root } = bootAndRoot(table, image.img)
const dir = await mkdtemp(join(tmpdir(), 'pibake-bench-cold-'))
const times: Record<'shell' | 'pibake', number[]> = { shell: [], pibake: [] }
let rssMiB = 0

async function shell(round: number): Promise<void> {
  const here = join(dir, `shell-${round}`)
  await mkdir(here)
  const started = performance.now()
  await exec(['bash', '-euc', SHELL, 'bash', image.xz, join(here, 'image.img'), join(here, 'dest'), join(here, 'mnt'), String(root.offset), String(root.size), String(boot.offset)])
  record('shell', started)
  await rm(here, { recursive: true, force: true })
}

async function pibake(round: number): Promise<void> {
  const out = join(dir, `pibake-${round}`)
  const timeFile = join(dir, 'time.txt')
  const started = performance.now()
  await exec(['/usr/bin/time', '-o', timeFile, '-f', '%M', join(repo, 'bin/pibake.js'), 'build', join(repo, 'recipes/cluster-node.ts'), '--out', out, '--json'], { env: { PATH: `${dirname(process.execPath)}:${process.env.PATH}` } })
  record('pibake', started)
  rssMiB = Math.max(rssMiB, Number((await readFile(timeFile, 'utf8')).trim().split('\n').at(-1)) / 1024)
  await clean(out)
  await rm(out, { recursive: true, force: true })
}

function record(kind: 'shell' | 'pibake', started: number): void {
  const seconds = (performance.now() - started) / 1000
  times[kind].push(seconds)
  console.log(`${kind.padEnd(7)} ${seconds.toFixed(1).padStart(6)} s`)
}

try {
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) await shell(round).then(() => pibake(round))
    else await pibake(round).then(() => shell(round))
  }
} finally {
  await rm(dir, { recursive: true, force: true })
}

const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!
const result = { rounds, shell: median(times.shell), pibake: median(times.pibake), ratio: median(times.pibake) / median(times.shell), pibakePeakRssMiB: rssMiB, times }
console.log('\nbuild                 median   ÷ shell')
console.log(`shell baseline      ${result.shell.toFixed(1).padStart(6)} s     1.00`)
console.log(`pibake build        ${result.pibake.toFixed(1).padStart(6)} s ${result.ratio.toFixed(2).padStart(8)}   (peak RSS ${rssMiB.toFixed(0)} MiB)`)
console.log(JSON.stringify(result))
