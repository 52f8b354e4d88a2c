/**
 * What `pibake --help` and `pibake <command> --help` print: the overview, and for each command its
 * usage line, what it does, its options and an example. Kept apart from cli.ts so that it stays small.
 */

/** One command's help: `options` are `[flag as typed, what it does]`. */
export interface CommandHelp {
  readonly usage: string
  readonly does: string
  readonly options: readonly (readonly [string, string])[]
  readonly examples: readonly string[]
}

const OUT: readonly [string, string] = ['--out DIR', 'caches, work trees, logs and the default publish target (default ./out)']
const JSON_OUT: readonly [string, string] = ['--json', 'print JSON instead of text']
const SITE: readonly (readonly [string, string])[] = [
  ['--target DIR', "the site's configuration folder (where its dnsmasq.conf and records are)"],
  ['--out DIR', 'or the default site of this out folder, <out>/publish (default ./out)'],
  JSON_OUT,
]

export const HELP: Readonly<Record<string, CommandHelp>> = {
  build: {
    usage: 'pibake build <recipe.ts> [options]',
    does: 'Runs the pipeline (image, extract, overlay, customize, netboot, publish), re-running only the stages whose inputs changed, and publishes when the result differs from the live build. Ends with a summary: published or unchanged, seconds per stage, bytes per target.',
    options: [
      OUT,
      ['--from STAGE', 're-run this stage and every stage after it'],
      ['--force', 're-run every stage'],
      ['--skip STAGE', 'leave a stage out (repeatable)'],
      ['--refresh', "fetch package lists again (re-runs customize when the recipe installs packages)"],
      ['--upgrade', "apt-get dist-upgrade after the recipe's steps; re-runs customize only when the image's archives changed"],
      ['--take', 'move nodes this recipe lists from other recipes of the site instead of refusing'],
      ['--json', 'one JSON event per line on stdout, the last one the summary'],
      ['--plain', 'labelled lines instead of the task list (the default when not on a terminal)'],
    ],
    examples: ['pibake build recipes/cluster-node.ts', 'pibake build /etc/pibake/workers.ts --out /var/lib/pibake --upgrade --json'],
  },
  plan: {
    usage: 'pibake plan <recipe.ts> [options]',
    does: 'Verifies everything (recipe, image checksum, host tools, the site) and shows which stages are cached and why the others would run. Changes nothing.',
    options: [OUT, ['--refresh', 'as build --refresh'], ['--upgrade', "as build --upgrade: asks the image's archives whether they changed"], JSON_OUT],
    examples: ['pibake plan recipes/cluster-node.ts'],
  },
  nodes: {
    usage: 'pibake nodes <recipe.ts> [options]',
    does: 'The fleet: hostname, MAC, serial, IP, model, TFTP directory and the build each node boots.',
    options: [OUT, JSON_OUT],
    examples: ['pibake nodes recipes/cluster-node.ts'],
  },
  try: {
    usage: 'pibake try <recipe.ts> [NODE] [--command CMD | --console] [--timeout S] [--record-reads] [--out DIR]',
    does: "Boots one node (hostname or MAC; default the first) of the recipe's live build, published on this machine, under QEMU, behind the site's own published dnsmasq.conf and ganesha.conf run in a private network namespace that pibake makes and removes (the host's network is not touched). The node asks for its lease and its boot files over TFTP as its firmware would (checked against the published files), then its kernel mounts the root over NFS. Prints each phase; then runs CMD over SSH with a throw-away key and exits with its status, or attaches the serial console (Ctrl-] leaves), or keeps the node running until Ctrl-C. The node's failed units are listed at the end. Needs qemu-system-arm, dnsmasq, nfs-ganesha (pibake doctor).",
    options: [['--command CMD', 'run CMD on the node as root over SSH once it answers; exit with its status'], ['--console', "attach the node's serial console (Ctrl-] leaves and stops the node)"], ['--timeout S', 'seconds from QEMU starting to SSH answering, and for CMD (default 600)'], ['--record-reads', "record the build's root read set (the files the NFS server reads, in order, until the node is running; for a squashfs or ram root, the files in the node's memory) beside the build as <id>.reads.json, for pibake rehearse's root phase and the next build's squashfs image order (needs fatrace)"], OUT],
    examples: ["pibake try recipes/cluster-node.ts node1 --command 'systemctl is-system-running --wait'", 'pibake try recipes/cluster-node.ts node2 --console'],
  },
  snapshot: {
    usage: 'pibake snapshot <dir|build|image.img|snap.json> [-o FILE]',
    does: 'Records every entry of a tree (path, type, mode, owner, size, content hash, link target, xattrs, hard links) as JSON.',
    options: [['-o, --output FILE', 'write the snapshot to FILE instead of stdout']],
    examples: ['pibake snapshot out/publish/nfs/cluster-node/current/ -o live.json'],
  },
  diff: {
    usage: 'pibake diff <a> <b> [options]',
    does: 'What was added, removed and changed between two trees: directories, published builds, disk images (their root partition) or saved snapshots.',
    options: [JSON_OUT, ['--mtime', 'also compare modification times']],
    examples: ['pibake diff out/demo/raspios-demo-arm64.img out/publish/nfs/cluster-node/current/'],
  },
  export: {
    usage: 'pibake export <recipe.ts|build folder> -o FILE [--out DIR]',
    does: "Writes a build as one root tarball (.tar, .tar.xz or .tar.zst, by FILE's name) that docker import, machinectl import-tar and a recipe's image.path take: entries sorted under ./, owners by number, xattrs and ACLs in PAX headers, times later than the build's clamped to it (SOURCE_DATE_EPOCH sets another), so the same build gives the same bytes. A recipe exports its live build on its first publish target with the boot files under boot/firmware/; a folder is exported as it is.",
    options: [['-o, --output FILE', 'the tarball to write (root.tar.zst, root.tar.xz, root.tar)'], ['--out DIR', "the recipe's out folder, for its default publish target (default ./out)"]],
    examples: ['pibake export recipes/cluster-node.ts -o cluster-node.tar.zst', 'SOURCE_DATE_EPOCH=1700000000 pibake export out/publish/nfs/cluster-node/current/ -o root.tar.xz'],
  },
  'demo-image': {
    usage: 'pibake demo-image [options]',
    does: 'Builds the demo image from Debian packages into <out>/demo/, laid out like Raspberry Pi OS; cached by its inputs.',
    options: [
      ['--arch ARCH', 'arm64 (default), armhf or all'],
      ['--release NAME', 'bookworm (default) or trixie'],
      OUT,
      ['--force', 'build it again even when cached'],
    ],
    examples: ['pibake demo-image --arch all'],
  },
  clean: {
    usage: 'pibake clean [options]',
    does: 'Unmounts and detaches what a killed run (SIGKILL, power loss) left under the out folder.',
    options: [OUT],
    examples: ['pibake clean --out /var/lib/pibake'],
  },
  doctor: {
    usage: 'pibake doctor [<recipe.ts>] [options]',
    does: "Checks this host's prerequisites (root, loop devices, overlayfs, binfmt_misc with qemu-aarch64 and qemu-arm and their F flag, mtools, rsync, sfdisk, xz, ssh for SSH targets, dnsmasq and an NFS server for a local site, free space) and says which Debian package or command fixes each. Exits 1 when something the recipe (or, without one, any build) needs is missing. build runs the same checks first.",
    options: [OUT, JSON_OUT],
    examples: ['pibake doctor', 'sudo pibake doctor recipes/cluster-node.ts --json'],
  },
  init: {
    usage: 'pibake init [--image FILE] [--name NAME] [--discover IF] [options]',
    does: "Writes a starter recipe for a real image: its sha256 (or the .sha256 file beside it), arch and boot layout read from the image, the boot server guessed from this host's addresses (said as a guess), nodes heard by discover when asked; every field commented with the README section it comes from. Passes pibake plan as written. Never overwrites a file.",
    options: [
      ['--image FILE', 'the Raspberry Pi OS image (.img or .img.xz; default: the demo image under out/demo)'],
      ['--name NAME', "the recipe's name (default: from the image's file name)"],
      ['-o, --output FILE', 'the recipe file to write (default recipes/<name>.ts)'],
      ['--discover IF', 'listen on this interface for Pis asking for a boot and write them as the nodes'],
      ['--seconds N', 'how long --discover listens (default 30)'],
      OUT,
    ],
    examples: ['pibake init --image 2025-05-13-raspios-bookworm-arm64-lite.img.xz --name lab', 'pibake init --image out/demo/raspios-demo-armhf.img.xz --discover eth0'],
  },
  discover: {
    usage: 'pibake discover --interface IF [options]',
    does: 'Listens for DHCP requests from Raspberry Pis the site does not know and prints node entries to paste into a recipe. Answers nobody.',
    options: [
      ['--interface IF', 'the interface the Pis are on (required)'],
      ['--seconds N', 'how long to listen (default 30)'],
      ['--log FILE', "read the site's dnsmasq log (log-dhcp) instead of listening on UDP 67"],
      ['--recipe FILE', 'a recipe whose nodes count as known (repeatable)'],
      ...SITE,
    ],
    examples: ['pibake discover --interface eth0 --seconds 60'],
  },
  rehearse: {
    usage: 'pibake rehearse <recipe.ts>… --interface IF [--nodes N|all] [--ordinary-ports] [options]',
    does: "Powers on the recipes' nodes that are not up as simulated Pis (root, from any Linux machine on the boot LAN): DHCP and TFTP as each model's firmware does them, against the real boot server, every file compared with the published one where the TFTP tree is on this machine. Prints per phase the nodes done, seconds and MB/s, the failures, and names the bottleneck; gives back every lease it took. Exits 1 when a node failed. Range-mode DHCP only.",
    options: [
      ['--interface IF', 'the interface on the boot LAN (required); the simulated nodes live in a namespace on a macvlan of it'],
      ['--nodes N|all', 'how many of the nodes that are not up to power on (default all)'],
      ['--ordinary-ports', "the root phase's NFS connections leave from ordinary ports, not reserved ones as a Pi's do: needed for more nodes than this machine has reserved ports (478 with Debian's /etc/services; refused otherwise); nfs-ganesha accepts them, a kernel NFS server only where its exports say insecure"],
      OUT,
      JSON_OUT,
    ],
    examples: ['sudo pibake rehearse recipes/cluster-node.ts --interface eth0 --nodes 40'],
  },
  site: {
    usage: 'pibake site [<recipe | recipe.ts>] [options]',
    does: "The site's recipes (or the one named, by its name or its recipe file), the build each node boots, and the builds kept.",
    options: [['--package NAME', 'instead: every build holding this Debian package, its version there, and the nodes booting it (from the builds\' SBOMs)'], ...SITE],
    examples: ['pibake site --target /srv/pibake/config', 'pibake site recipes/cluster-node.ts', 'pibake site --package openssl --json'],
  },
  sbom: {
    usage: 'pibake sbom <recipe | recipe.ts | build folder> [options]',
    does: "Prints a build's SBOM: the recipe's live build (or --to ID) on the site, or a published build folder (<nfs>/<recipe>/builds/<id>). Every package of the build's dpkg database with its version, architecture, source package, license (where its copyright file is machine-readable) and .deb sha256 (where apt's cache had it), the image's sha256, the recipe's and every file it copies, pibake's version. Published with each build as <id>.spdx.json and <id>.cdx.json.",
    options: [['--format spdx|cyclonedx', 'SPDX 2.3 JSON (default) or CycloneDX 1.6 JSON'], ['--to ID', 'another build of the recipe than the live one'], ...SITE.filter(([flag]) => flag !== '--json')],
    examples: ['pibake sbom workers > workers.spdx.json', 'pibake sbom recipes/cluster-node.ts --format cyclonedx', 'pibake sbom /srv/pibake/workers/builds/20261125-174233-1a2b3c4d'],
  },
  rollback: {
    usage: 'pibake rollback <recipe | recipe.ts> [options]',
    does: 'Switches a recipe and its nodes back to an earlier build (by default the one that was live before the live one).',
    options: [['--to ID', 'the build to switch to'], ...SITE],
    examples: ['pibake rollback cluster-node --to 20261130-101500-3f2a9c1d'],
  },
  unpublish: {
    usage: 'pibake unpublish <recipe | recipe.ts> [options]',
    does: "Takes a recipe off the site: the server configuration first (its nodes get no boot answer), then its files. Its nodes' persisted folders (netboot.persist) stay unless asked.",
    options: [['--purge-node-data', "also remove its nodes' persisted folders (<nfs>/_persist/<mac>), unless another recipe lists the node"], ...SITE],
    examples: ['pibake unpublish old-lab'],
  },
  gc: {
    usage: 'pibake gc [<recipe | recipe.ts>] [options]',
    does: 'Removes builds that no node can still be running, beyond what the site keeps.',
    options: [
      ['--keep-builds N', 'keep the N newest builds of each recipe'],
      ['--keep-days N', 'keep every build that was live in the last N days'],
      ['--dry-run', 'say what would be removed, remove nothing'],
      ['--purge-node-data', 'also remove the persisted folders of nodes no recipe of the site lists (not with a recipe: they are no recipe\'s)'],
      ...SITE,
    ],
    examples: ['pibake gc --keep-builds 2 --dry-run'],
  },
  drain: {
    usage: 'pibake drain <server> [options]',
    does: "Takes an NFS server of the site out of service (netboot.nfs listing several): its nodes are assigned to the other servers (the least loaded first), the records and each server's exports rewritten, and each node's TFTP link switched to its folder for its new server in the same build, one rename each. Running nodes keep the drained server until they reboot; take it down once they have. Refused for the last server that is not drained, a server the site does not have, and a server nodes are pinned to (nodes[].nfs).",
    options: SITE,
    examples: ['pibake drain 10.42.0.3 --target /srv/tftp-site'],
  },
  undrain: {
    usage: 'pibake undrain <server> [options]',
    does: 'Brings a drained NFS server back: new nodes are assigned to it again and publishing sends it every build; the nodes moved away stay where they are unless --rebalance.',
    options: [['--rebalance', 'also move unpinned nodes from the busiest servers onto it until the counts are even'], ...SITE],
    examples: ['pibake undrain 10.42.0.3 --rebalance'],
  },
  schedule: {
    usage: 'pibake schedule <recipe.ts> --on-calendar SPEC [options]\n       pibake schedule --remove <recipe.ts | recipe name> [--unit-dir DIR]',
    does: 'Writes a systemd service and timer (pibake-<recipe>.service and .timer) that rebuild the recipe on a schedule, with absolute paths to this node, this pibake, the recipe and the out folder. A run publishes only when the result differs from the live build, never a failed build; its exit status and the journal say which.',
    options: [
      ['--on-calendar SPEC', 'when to run, a systemd calendar spec (daily, Mon *-*-* 04:00, *-*-* 03:30); checked with systemd-analyze'],
      ['--unit-dir DIR', 'where to write the units (default /etc/systemd/system)'],
      ['--refresh', 'fetch package lists on every run (build --refresh)'],
      ['--upgrade', "apt-get dist-upgrade after the recipe's steps on every run (build --upgrade): picks up security fixes"],
      ['--out DIR', 'the out folder the builds use (default ./out, made absolute)'],
      ['--print', 'print the units and a cron line (for hosts without systemd) instead of writing'],
      ['--remove', 'remove the units written for this recipe'],
    ],
    examples: [
      "pibake schedule /etc/pibake/workers.ts --on-calendar 'Sun *-*-* 03:30' --upgrade --out /var/lib/pibake",
      'systemctl daemon-reload && systemctl enable --now pibake-workers.timer',
      'journalctl -u pibake-workers.service',
    ],
  },
  serve: {
    usage: 'pibake serve [options]',
    does: "The site in a browser: every recipe with its live build and its nodes (what each boots, when dnsmasq last answered it), each recipe's builds with what changed from the one before, the seconds per stage across builds, a running build's task list live, and the new Pis dnsmasq heard. Moves a node to another recipe (its entry moved between the recipe files, then build --take), rolls a recipe back, starts a build: each after a confirmation, through the same code as the command line. Listens on 127.0.0.1 unless told; on any other address every request needs the token it prints.",
    options: [
      ['--listen ADDR:PORT', 'where to listen (default 127.0.0.1:8470; another address requires the printed token)'],
      ['--log FILE', "the site's dnsmasq log (log-facility=, with log-dhcp): when each node last booted, and the new Pis"],
      ['--target DIR', "the site's configuration folder (where its dnsmasq.conf and records are)"],
      ['--out DIR', 'the out folder: its logs, its default site <out>/publish, the --out of builds started from the page (default ./out)'],
    ],
    examples: ['pibake serve', 'pibake serve --target /srv/pibake/config --out /var/lib/pibake --log /var/log/pibake-dnsmasq.log'],
  },
  report: {
    usage: 'pibake report <recipe | recipe.ts> [options]',
    does: "The builds of a recipe of the site as one self-contained HTML file (no script, nothing to fetch): each build with its size, the nodes on it and what changed from the build before, and the seconds per stage across recent builds from the logs. For CI artifacts and mail.",
    options: [['-o, --output FILE', 'where to write it (default ./<recipe>-report.html)'], ...SITE.filter(([flag]) => flag !== '--json')],
    examples: ['pibake report workers -o workers.html', 'pibake report recipes/cluster-node.ts', 'pibake report workers --target /srv/pibake/config --out /var/lib/pibake'],
  },
  verify: {
    usage: 'pibake verify [<recipe | recipe.ts> [BUILD]] [options]',
    does: "Reads each recipe's live build (or BUILD) back where it is published, on this machine or over SSH, and compares every path with the snapshot stored with the build at publish: added, missing, content, mode, owner, link target, xattrs. The stored snapshot is used only when its sha256 is the one the build's record names, and, with --allowed-signers, the record only when its SSH signature holds. Exit status 0 when every build is as built, 1 when a path differs or a check fails.",
    options: [['--allowed-signers FILE', "require each build's record to be signed (publish[].sign.key) by a key this ssh-keygen allowed-signers file lists"], ['--mtime', 'also compare modification times'], ...SITE],
    examples: ['pibake verify', 'pibake verify workers --allowed-signers /etc/pibake/allowed_signers', 'pibake verify recipes/cluster-node.ts 20261125-174233-1a2b3c4d --json'],
  },
}

export const USAGE = `pibake: bake Raspberry Pi OS images into diskless network-boot systems

usage:
  pibake build <recipe.ts> [--out DIR] [--from STAGE] [--force] [--skip STAGE]… [--refresh] [--upgrade] [--take] [--json | --plain]
  pibake plan <recipe.ts> [--out DIR] [--json]      verify everything, show which stages are cached
  pibake nodes <recipe.ts> [--out DIR] [--json]     the fleet: MAC, serial, IP, model, TFTP directory, build
  pibake try <recipe.ts> [NODE] [--command CMD | --console] [--timeout S] [--record-reads] [--out DIR]
                                                    boot a node of the published build under QEMU, on this machine
  pibake snapshot <dir|build|image.img|snap.json> [-o FILE]
  pibake diff <a> <b> [--json] [--mtime]           what was added, removed and changed between two trees
  pibake export <recipe.ts|build folder> -o root.tar.zst [--out DIR]
                                                    a build as a deterministic root tarball (docker import, machinectl import-tar, image.path)
  pibake demo-image [--arch arm64|armhf|all] [--release bookworm|trixie] [--out DIR] [--force]
  pibake clean [--out DIR]                          undo what a killed run left (mounts, loop devices)
  pibake doctor [<recipe.ts>] [--out DIR] [--json]  check the host's prerequisites, with what fixes each
  pibake site [<recipe>] [--out DIR | --target DIR] [--json]
                                                    the site's recipes, the build each node boots, the builds kept
  pibake site --package NAME [--out DIR | --target DIR] [--json]
                                                    which builds hold a Debian package, its version, the nodes on them
  pibake sbom <recipe|build folder> [--format spdx|cyclonedx] [--to ID] [--out DIR | --target DIR]
                                                    print a build's SBOM (SPDX 2.3 or CycloneDX 1.6 JSON)
  pibake rollback <recipe> [--to ID] [--out DIR | --target DIR] [--json]
                                                    switch a recipe and its nodes back to an earlier build
  pibake unpublish <recipe> [--purge-node-data] [--out DIR | --target DIR] [--json]
                                                    take a recipe off the site: server config first, then its files
  pibake gc [<recipe>] [--keep-builds N] [--keep-days N] [--dry-run] [--purge-node-data] [--out DIR | --target DIR] [--json]
                                                    remove builds no node can still be running
  pibake drain <server> [--out DIR | --target DIR] [--json]
                                                    move an NFS server's nodes to the others, so it can be taken down
  pibake undrain <server> [--rebalance] [--out DIR | --target DIR] [--json]
                                                    bring a drained NFS server back
  pibake init [--image FILE] [--name NAME] [--discover IF [--seconds N]] [-o FILE] [--out DIR]
                                                    a starter recipe for a real image, read from the image
  pibake discover --interface IF [--seconds N] [--log FILE] [--recipe FILE]… [--out DIR | --target DIR] [--json]
                                                    Raspberry Pis asking for a boot that the site does not know
  pibake rehearse <recipe.ts>… --interface IF [--nodes N|all] [--ordinary-ports] [--out DIR] [--json]
                                                    a boot storm of the nodes that are not up, against the real boot server
  pibake schedule <recipe.ts> --on-calendar SPEC [--unit-dir DIR] [--refresh] [--upgrade] [--out DIR] [--print]
  pibake schedule --remove <recipe> [--unit-dir DIR]
                                                    rebuild on a schedule: a systemd service and timer
  pibake serve [--listen ADDR:PORT] [--log FILE] [--out DIR | --target DIR]
                                                    the site in a browser: fleets, builds, moves, rollbacks
  pibake report <recipe> [-o FILE] [--out DIR | --target DIR]
                                                    a recipe's builds as one self-contained HTML file
  pibake verify [<recipe> [BUILD]] [--allowed-signers FILE] [--mtime] [--out DIR | --target DIR] [--json]
                                                    check a published build against what was built; exit 1 on any difference
  pibake <command> --help                           a command's options and an example
  pibake --version

A <recipe> is its name (cluster-node) or its recipe file (recipes/cluster-node.ts).
Stages: image, extract, overlay, customize, netboot, publish.  Exit status: 0 ok, 1 failed, 2 bad usage or recipe, 130 interrupted.`

/** `pibake <command> --help`, or undefined for a command that doesn't exist. */
export function commandHelp(command: string): string | undefined {
  const help = HELP[command]
  if (!help) return undefined
  const width = Math.max(...help.options.map(([flag]) => flag.length))
  const options = help.options.map(([flag, what]) => `  ${flag.padEnd(width)}  ${what}`)
  return [
    `usage: ${help.usage}`,
    '',
    wrap(help.does, 100),
    '',
    'options:',
    ...options,
    `  ${'-h, --help'.padEnd(width)}  this help`,
    '',
    `example${help.examples.length > 1 ? 's' : ''}:`,
    ...help.examples.map((e) => `  ${e}`),
  ].join('\n')
}

function wrap(text: string, width: number): string {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line ? `${line} ${word}` : word
  }
  return [...lines, line].join('\n')
}
