// Ages as kubectl prints them: the largest whole unit, `5s`, `3m`, `2h`, `4d`, `1y`.

const UNITS: [suffix: string, seconds: number][] = [
  ['y', 365 * 86400],
  ['d', 86400],
  ['h', 3600],
  ['m', 60],
];

export function formatAge(sinceIso: string | undefined, nowMs: number): string {
  if (!sinceIso) return '<unknown>';
  const since = Date.parse(sinceIso);
  if (Number.isNaN(since)) return '<unknown>';
  return formatDuration(Math.max(0, nowMs - since));
}

export function formatDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  for (const [suffix, size] of UNITS) {
    if (seconds >= size) return `${Math.floor(seconds / size)}${suffix}`;
  }
  return `${seconds}s`;
}
