/**
 * Licenses from Debian's machine-readable copyright files (DEP-5, `/usr/share/doc/<package>/
 * copyright` with a `Format:` header), as SPDX license expressions: each `License:` of a `Files:`
 * paragraph, its Debian short names turned into SPDX ids where one is meant (`GPL-2+` is
 * `GPL-2.0-or-later`, `Expat` is `MIT`, `BSD-3-clause` is `BSD-3-Clause`), any other name into a
 * `LicenseRef-…` of its own. A package's expression is every distinct one of its files, joined with AND.
 */
import { fixupSpdxId } from '@cyclonedx/cyclonedx-library/SPDX'
import { parseParagraphs } from './control.ts'
import { compare } from './dpkg.ts'

export interface PackageLicense {
  /** An SPDX license expression (`GPL-3.0-or-later AND (LGPL-2.1-or-later OR MIT)`). */
  readonly expression: string
  /** The `LicenseRef-…` ids it uses, each with the Debian name it stands for. */
  readonly refs: ReadonlyMap<string, string>
}

/** The License synopses of a DEP-5 file's `Files:` paragraphs; undefined when the file is not machine-readable. */
export function copyrightLicenses(text: string): string[] | undefined {
  const [header, ...rest] = parseParagraphs(text)
  if (!header?.get('format')) return undefined
  return rest.filter((p) => p.has('files')).map((p) => (p.get('license') ?? '').split('\n')[0]!.trim()).filter(Boolean)
}

/** The package's license expression from its copyright file's synopses, or undefined when they name none. */
export function packageLicense(synopses: readonly string[]): PackageLicense | undefined {
  const refs = new Map<string, string>()
  const terms = [...new Set(synopses.flatMap((s) => conjuncts(synopsisExpression(s, refs))))].sort(compare)
  if (!terms.length) return undefined
  return { expression: terms.map((t) => (terms.length > 1 && / OR /.test(t) ? `(${t})` : t)).join(' AND '), refs }
}

/** The expression's top-level AND terms, each without parentheses of its own. */
function conjuncts(expression: string): string[] {
  const terms: string[] = []
  let depth = 0
  let start = 0
  for (let i = 0; i < expression.length; i++) {
    if (expression[i] === '(') depth++
    else if (expression[i] === ')') depth--
    else if (depth === 0 && expression.startsWith(' AND ', i)) {
      terms.push(expression.slice(start, i))
      start = i + ' AND '.length
    }
  }
  terms.push(expression.slice(start))
  return terms.map(unwrap)
}

/** `(A OR B)` → `A OR B` when the parentheses enclose the whole term. */
function unwrap(term: string): string {
  if (!term.startsWith('(') || !term.endsWith(')')) return term
  let depth = 0
  for (let i = 0; i < term.length - 1; i++) {
    if (term[i] === '(') depth++
    else if (term[i] === ')') depth--
    if (depth === 0) return term
  }
  return unwrap(term.slice(1, -1))
}

/**
 * One synopsis (`GPL-2+ or Artistic`, `LGPL-3+ or GPL-2+, and BSD-3-clause`). DEP-5: `and` binds
 * tighter than `or` (as in SPDX), and a comma ends a group whose result the next word joins.
 */
function synopsisExpression(synopsis: string, refs: Map<string, string>): string {
  const groups = synopsis.split(/\s*,\s*/).filter(Boolean)
  let expression = ''
  for (const group of groups) {
    const joined = /^(and|or)\s+(.*)$/i.exec(group)
    const words = joined ? joined[2]! : group
    const operator = joined ? joined[1]!.toUpperCase() : 'AND'
    const part = groupExpression(words, synopsis, refs)
    expression = expression ? `(${expression}) ${operator} (${part})` : part
  }
  return expression || licenseRef(synopsis, refs)
}

function groupExpression(words: string, synopsis: string, refs: Map<string, string>): string {
  const tokens = words.split(/\s+(or|and)\s+/i)
  const terms = tokens.filter((_, index) => index % 2 === 0).map(licenseTerm)
  // A phrase where a name should be (the first line of a license's text): one ref for the whole synopsis.
  if (terms.some((term) => term === undefined)) return licenseRef(synopsis, refs)
  return tokens.map((token, index) => (index % 2 ? token.toUpperCase() : nameOf(terms[index / 2]!, refs))).join(' ')
}

type Term = { readonly spdx: string } | { readonly ref: string }

function nameOf(term: Term, refs: Map<string, string>): string {
  return 'spdx' in term ? term.spdx : licenseRef(term.ref, refs)
}

/** A term's SPDX form, a name SPDX lacks, or undefined for a phrase that is no name. */
function licenseTerm(term: string): Term | undefined {
  const withException = /^(\S+)\s+with\s+(\S+)\s+exception$/i.exec(term)
  if (withException) {
    const license = spdxId(withException[1]!)
    const exception = EXCEPTIONS[withException[2]!.toLowerCase()]
    return license && exception ? { spdx: `${license} WITH ${exception}` } : { ref: term }
  }
  if (/\s/.test(term)) return undefined
  const spdx = spdxId(term)
  return spdx ? { spdx } : { ref: term }
}

/** The SPDX id a Debian short name stands for, if SPDX has one. */
export function spdxId(name: string): string | undefined {
  const known = DEBIAN_NAMES[name.toLowerCase()]
  if (known) return known
  // GPL-2, GPL-2+, GPL-2.0+, GPLv3+, LGPL-2.1, AGPL-3+, GFDL-1.3+: `-only` or `-or-later`.
  const gnu = /^(A?GPL|LGPL|GFDL)-?v?(\d)(?:\.(\d))?(\+)?$/i.exec(name)
  if (gnu) {
    const id = `${gnu[1]!.toUpperCase()}-${gnu[2]}.${gnu[3] ?? '0'}-${gnu[4] ? 'or-later' : 'only'}`
    return fixupSpdxId(id)
  }
  return fixupSpdxId(name)
}

/** Debian's names that are not SPDX's (or differ by more than case). */
const DEBIAN_NAMES: Readonly<Record<string, string>> = {
  expat: 'MIT',
  'apache-2': 'Apache-2.0',
  'apache-2.0': 'Apache-2.0',
  // Debian's common-licenses/Artistic is Perl's Artistic License (1.0).
  artistic: 'Artistic-1.0-Perl',
  'mpl-1.1': 'MPL-1.1',
  'mpl-2': 'MPL-2.0',
  zlib: 'Zlib',
}

/** `with X exception` as SPDX exception ids. */
const EXCEPTIONS: Readonly<Record<string, string>> = {
  'linux-syscall-note': 'Linux-syscall-note',
  bison: 'Bison-exception-2.2',
  texinfo: 'Texinfo-exception',
  'autoconf-3': 'Autoconf-exception-3.0',
  'gcc-3.1': 'GCC-exception-3.1',
}

/** `LicenseRef-<name>` (letters, digits, `.` and `-` only), remembered with the name it stands for. */
function licenseRef(name: string, refs: Map<string, string>): string {
  const id = `LicenseRef-${name.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'unnamed'}`
  if (!refs.has(id)) refs.set(id, name)
  return id
}
