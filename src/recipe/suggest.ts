/** "Did you mean…?" for misspelt field names and models. */

/**
 * The candidate closest to `word`, when it is close enough to be a likely typo: equal after
 * `normalise` (case-insensitive by default), or at most a third of its letters different.
 */
export function suggest(word: string, candidates: readonly string[], normalise = (s: string) => s.toLowerCase()): string | undefined {
  const target = normalise(word)
  const exact = candidates.find((c) => normalise(c) === target)
  if (exact !== undefined) return exact
  let best: string | undefined
  let bestDistance = Math.max(1, Math.floor(target.length / 3)) + 1
  for (const candidate of candidates) {
    const distance = editDistance(target, normalise(candidate))
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

/** Levenshtein distance, with a swap of two neighbouring letters counted as one edit. */
export function editDistance(a: string, b: string): number {
  const width = b.length + 1
  const d = new Array<number>((a.length + 1) * width).fill(0)
  const at = (i: number, j: number): number => d[i * width + j] ?? 0
  for (let i = 0; i <= a.length; i++) {
    for (let j = 0; j <= b.length; j++) {
      let best = i + j
      if (i > 0 && j > 0) best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1)
      d[i * width + j] = best
    }
  }
  return at(a.length, b.length)
}
