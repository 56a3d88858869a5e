// `--since 10m | 30s | 1h30m | 2d | RFC 3339` -> an absolute RFC 3339 time, as `logs` sends it.
import { UsageError } from './command.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The moment `text` names, relative to `now` for a duration; a UsageError if it is neither. */
export function parseSince(text: string, now: number, verb = 'logs'): string {
  const t = text.trim();
  if (/^(\d+(ms|s|m|h|d))+$/.test(t)) {
    let ms = 0;
    for (const m of t.matchAll(/(\d+)(ms|s|m|h|d)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    return new Date(now - ms).toISOString();
  }
  if (/^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?)?$/.test(t)) {
    const ms = Date.parse(t);
    if (!Number.isNaN(ms)) return new Date(ms).toISOString();
  }
  throw new UsageError(`--since takes a duration like 30s, 10m, 1h30m or 2d, or an RFC 3339 time; not "${text}"`, verb);
}
