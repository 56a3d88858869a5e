// `berth get audit [-w]`: the API's audit log, oldest first (operators and admins). -w follows
// it by asking every second for the entries stored after the last answer (`fromVersion`).
import type { AuditEntry } from '../../common/audit.js';
import { boolOpt, stringOpt, UsageError, type CommandContext, type ParsedArgs } from '../command.js';
import { auditView } from '../output/audit.js';
import { renderMachine, type OutputFormat } from '../output/format.js';
import { COLUMN_GAP, renderTable } from '../output/table.js';

export const AUDIT_KIND_NAMES: readonly string[] = ['audit'];
const POLL_MS = 1000;

interface AuditPage {
  items: AuditEntry[];
  version: number;
}

export async function getAudit(ctx: CommandContext, args: ParsedArgs, format: OutputFormat): Promise<number> {
  if (args.positionals.length > 1) throw new UsageError('get audit takes no NAME', 'get');
  for (const flag of ['service', 'node', 'for', 'selector']) {
    if (stringOpt(args.values, flag)) throw new UsageError(`--${flag} does not apply to audit`, 'get');
  }
  const client = ctx.client();
  const watch = boolOpt(args.values, 'watch');
  let page = await client.request<AuditPage>('GET', '/v1/audit');
  const view = auditView(page.items);
  if (format === 'json' || format === 'yaml') {
    if (!watch) ctx.out(renderMachine({ items: page.items }, format));
    else for (const e of page.items) ctx.out(JSON.stringify(e));
  } else if (page.items.length) {
    ctx.out(renderTable(view.headers, view.rows));
  } else if (!watch) {
    ctx.err('No audit entries found.');
  }
  if (!watch) return 0;

  // Later rows aligned to the first table (wider cells push the row, as get -w does).
  const widths = view.headers.map((h, i) => Math.max(h.length, ...view.rows.map((r) => (r[i] ?? '').length)));
  let headerShown = page.items.length > 0;
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join(COLUMN_GAP).trimEnd();
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!stop.signal.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, POLL_MS);
        stop.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      if (stop.signal.aborted) break;
      page = await client.request<AuditPage>('GET', `/v1/audit?fromVersion=${page.version}`);
      if (format === 'json') {
        for (const e of page.items) ctx.out(JSON.stringify(e));
        continue;
      }
      for (const row of auditView(page.items).rows) {
        if (!headerShown) {
          ctx.out(line(view.headers));
          headerShown = true;
        }
        ctx.out(line(row));
      }
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  return 0;
}
