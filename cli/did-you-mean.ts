// Suggestions for typos (`berth aply` -> did you mean "apply"?): the closest known word by
// Levenshtein distance, when it is close enough to be a plausible typo. Pure.

/** Levenshtein distance, with a swap of two neighbours (`dve` -> `dev`) counted as one edit. */
export function levenshtein(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (before[j - 2] ?? 0) + 1);
      cur[j] = d;
    }
    before = prev;
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/**
 * The closest candidate within a distance that grows with the word (1 for short words, up to a
 * third of the length), or one the word is a prefix of; undefined when nothing is close.
 */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  if (!w) return undefined;
  const limit = Math.max(1, Math.min(3, Math.floor(w.length / 3)));
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    if (c === word) return undefined;
    const d = levenshtein(w, c.toLowerCase());
    if (d <= limit && (!best || d < best.d)) best = { c, d };
  }
  if (best) return best.c;
  if (w.length >= 2) return candidates.find((c) => c.toLowerCase().startsWith(w));
  return undefined;
}

/** `: did you mean "apply"?` or nothing, to append to an error line. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const s = suggest(word, candidates);
  return s ? `: did you mean "${s}"?` : '';
}
