/**
 * The text of the recipe `pibake init` writes: every field it sets comes with a comment saying where
 * the value came from (read from the image, guessed from this host, heard from a Pi) and which
 * README section explains it. Strings are written as single-quoted literals, escaped.
 */
import { basename, dirname, relative } from 'node:path'
import type { ImageFacts } from './inspect.ts'
import type { ServerGuess } from './host.ts'

export interface NodeEntry {
  readonly hostname: string
  readonly mac: string
  readonly model: string
  readonly serial?: string
  /** Said above the entry: how it was found. */
  readonly comment?: string
}

export interface RecipeChoices {
  readonly name: string
  /** The recipe file to be written (absolute): image paths are written relative to its folder. */
  readonly file: string
  readonly image: ImageFacts
  readonly server: ServerGuess
  /** Nodes heard by `pibake discover`; undefined when not asked, empty when none was heard. */
  readonly discovered?: { readonly interface: string; readonly seconds: number; readonly nodes: readonly NodeEntry[] }
}

/** The example node written when no Pi was discovered: the demo's first MAC, to be replaced. */
export const EXAMPLE_NODE: NodeEntry = { hostname: 'node1', mac: 'dc:a6:32:00:00:01', model: '4B' }

export function renderRecipe(choices: RecipeChoices): string {
  const { image, server } = choices
  const from = (path: string) => {
    const rel = relative(dirname(choices.file), path)
    return rel.startsWith('.') ? rel : `./${rel}`
  }
  const layout = `${image.release ?? 'release unknown'}, ${image.arch}, boot partition on ${image.bootMount}, ${image.label === 'dos' ? 'MBR' : 'GPT'} partition table`
  const where = server.interface ? `this host's address on ${server.interface}` : 'an example (this host has no IPv4 address but loopback)'
  const lines = [
    '/**',
    ` * ${choices.name}: written by \`pibake init\` for ${basename(image.path)} (${layout}).`,
    ' * Lines marked GUESS are guesses about your network: check them, then `pibake plan` this file.',
    ' */',
    "import { defineRecipe } from 'pibake'",
    '',
    'export default defineRecipe({',
    '  // Names the published folders and the site\'s record (README: Recipes).',
    `  name: ${q(choices.name)},`,
    '  image: {',
    '    // Relative to this file (README: Recipes).',
    `    path: ${q(from(image.path))},`,
    image.sha256File
      ? '    // The sha256sum file beside the image; it agrees with the image as pibake init read it.'
      : '    // The image\'s sha256 as pibake init read it: a changed or damaged image is refused at build.',
    `    sha256: ${q(image.sha256File ? from(image.sha256File) : image.sha256)},`,
    '    // Read from the image\'s /usr/bin/dpkg; checked against the image at every build.',
    `    arch: ${q(image.arch)},`,
    '  },',
    '  // Steps run inside the image under qemu-user, in order (README: Customisation steps), e.g.',
    "  // customize: [{ kind: 'packages', install: ['htop'] }],",
    '  netboot: {',
    `    // GUESS: ${where}. The server that runs dnsmasq, DHCP and TFTP (README: Recipes).`,
    `    server: ${q(server.address)},`,
    `    // GUESS: proxy DHCP on ${server.network}/${server.netmask}, beside the network's own DHCP server, which keeps`,
    "    // handing out addresses; mode: 'range' makes dnsmasq the DHCP server (README: Recipes, Sites).",
    `    dhcp: { mode: 'proxy', network: ${q(server.network)} },`,
    '    // GUESS: this host serves the roots over NFS too; publish puts them under out/publish/nfs (README: Publishing over SSH).',
    `    nfs: { server: ${q(server.address)} },`,
    '  },',
    '  nodes: [',
    ...nodeLines(choices.discovered),
    '  ],',
    '  // Published to out/publish/ beside this clone unless publish: says otherwise (README: Sites, Publishing over SSH).',
    '})',
    '',
  ]
  return lines.join('\n')
}

function nodeLines(discovered: RecipeChoices['discovered']): string[] {
  if (discovered?.nodes.length) {
    return [
      `    // Heard by pibake discover on ${discovered.interface} in ${discovered.seconds} s (README: Commands, pibake discover).`,
      ...discovered.nodes.flatMap((node) => [...(node.comment ? [`    // ${node.comment}`] : []), `    ${nodeLiteral(node)},`]),
    ]
  }
  const why = discovered
    ? `no Pi unknown to the site asked for a boot on ${discovered.interface} in ${discovered.seconds} s`
    : 'no Pi was looked for (pibake init --discover IF listens for them)'
  return [
    `    // EXAMPLE (${why}): replace it with your Pis' MACs and models;`,
    '    // `pibake discover --interface IF` prints an entry for each Pi that asks for a boot (README: Recipes).',
    `    ${nodeLiteral(EXAMPLE_NODE)},`,
  ]
}

function nodeLiteral(node: NodeEntry): string {
  const fields = [`hostname: ${q(node.hostname)}`, `mac: ${q(node.mac)}`, `model: ${q(node.model)}`, ...(node.serial ? [`serial: ${q(node.serial)}`] : [])]
  return `{ ${fields.join(', ')} }`
}

/** A single-quoted TypeScript string literal. */
function q(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}'`
}
