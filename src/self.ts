/**
 * Where the running pibake is. The same code runs from a clone (TypeScript in `src/`, started by
 * `bin/pibake.js`) and from an installed package (JavaScript built into `dist/`, started by
 * `dist/cli.js`); this module is one folder below either root, and its own extension says which.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const fromSources = import.meta.url.endsWith('.ts')

/** The URL of the library's entry module (`src/index.ts` or `dist/index.js`): what recipes get for `import … from 'pibake'`. */
export const SELF_INDEX_URL: string = new URL(fromSources ? './index.ts' : './index.js', import.meta.url).href

/** The file that runs the command line: `bin/pibake.js` in a clone, `dist/cli.js` when installed. */
export const SELF_CLI: string = fileURLToPath(new URL(fromSources ? '../bin/pibake.js' : './cli.js', import.meta.url))

/** pibake's version, from its package.json. */
export function selfVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown }
  return String(manifest.version)
}
