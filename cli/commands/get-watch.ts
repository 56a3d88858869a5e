// `berth get KIND -w`: after the table, one line per change as it arrives over the watch
// WebSocket, until Ctrl-C (exit 0). A line is printed when an object changes (a replay after a
// reconnect reprints nothing), and once more when the object is deleted.
import { WatchEventType, type WatchChange, type WatchKind } from '../../common/watch.js';
import type { ApiClient } from '../api-client.js';
import { UsageError, type CommandContext } from '../command.js';
import type { OutputFormat } from '../output/format.js';
import { COLUMN_GAP } from '../output/table.js';
import type { TableView } from '../output/views.js';
import { followWatch } from '../watch.js';

export interface WatchSpec<T> {
  kind: WatchKind;
  format: OutputFormat;
  /** What the first table showed. */
  initial: readonly T[];
  keyOf(obj: T): string;
  /** Equal for two copies of the same state of an object (its version, and derived status). */
  fingerprint(obj: T): string;
  /** Only these objects are shown (a NAME, --service, --node, --for). */
  matches(obj: T): boolean;
  view(items: readonly T[], wide: boolean): TableView;
  /** Fetches what a row of `obj` needs (node names), before it is rendered. */
  prepare?(obj: T): Promise<void>;
  /** Objects never change, and their deletion is not news (events expiring). */
  immutable?: boolean;
}

export async function watchChanges<T>(ctx: CommandContext, client: ApiClient, spec: WatchSpec<T>): Promise<number> {
  if (spec.format === 'yaml') throw new UsageError('-w prints a table, or one JSON change per line with -o json', 'get');
  const wide = spec.format === 'wide';
  const first = spec.view(spec.initial, wide);
  const widths = first.headers.map((h, i) => Math.max(h.length, ...first.rows.map((r) => (r[i] ?? '').length)));
  let headerShown = first.rows.length > 0;
  const shown = new Map<string, string>();
  for (const o of spec.initial) shown.set(spec.keyOf(o), spec.fingerprint(o));

  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join(COLUMN_GAP)
      .trimEnd();

  const onChange = async (change: WatchChange): Promise<void> => {
    const obj = change.object as T;
    if (!spec.matches(obj)) return;
    const key = spec.keyOf(obj);
    const deleted = change.type === WatchEventType.Deleted;
    if (deleted && (spec.immutable || !shown.has(key))) return;
    if (spec.immutable && shown.has(key)) return;
    const print = spec.fingerprint(obj);
    if (!deleted && shown.get(key) === print) return;
    if (deleted) shown.delete(key);
    else shown.set(key, print);
    if (spec.format === 'json') {
      ctx.out(JSON.stringify(change));
      return;
    }
    await spec.prepare?.(obj).catch(() => undefined);
    const row = spec.view([obj], wide).rows[0] ?? [];
    if (!headerShown) {
      ctx.out(line(first.headers));
      headerShown = true;
    }
    ctx.out(line(row));
  };

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await followWatch(client, { kind: spec.kind, onChange, onNotice: (t) => ctx.err(t), signal: stop.signal });
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  return 0;
}
