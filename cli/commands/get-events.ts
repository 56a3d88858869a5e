// `berth get events [--for KIND/NAME] [-w]`: what happened, oldest first.
import type { BerthEvent } from '../../common/events.js';
import { WatchKind } from '../../common/watch.js';
import { boolOpt, stringOpt, UsageError, type CommandContext, type ParsedArgs } from '../command.js';
import { eventsView } from '../output/events.js';
import { renderMachine, type OutputFormat } from '../output/format.js';
import { renderTable } from '../output/table.js';
import { parseKindAndNames } from '../resources.js';
import { watchChanges } from './get-watch.js';

export const EVENT_KIND_NAMES: readonly string[] = ['events', 'event', 'ev'];

export async function getEvents(ctx: CommandContext, args: ParsedArgs, format: OutputFormat): Promise<number> {
  if (args.positionals.length > 1) throw new UsageError('get events takes no NAME: use --for KIND/NAME', 'get');
  if (stringOpt(args.values, 'service') || stringOpt(args.values, 'node')) throw new UsageError('--service and --node apply to tasks only', 'get');
  const target = stringOpt(args.values, 'for');
  const client = ctx.client();
  let filter: { kind?: string; name?: string; service?: string } = {};
  let matches: (e: BerthEvent) => boolean = () => true;
  if (target) {
    const { kind, names } = parseKindAndNames([target], 'get');
    const name = names[0];
    if (!name || names.length > 1) throw new UsageError(`--for needs KIND/NAME (got "${target}")`, 'get');
    // A task may be named by id or id prefix; its events carry its name.
    const resolved = kind === 'task' ? (await client.getTask(name)).name : name;
    filter = kind === 'service' ? { service: resolved } : { kind, name: resolved };
    matches = (e) =>
      kind === 'service'
        ? e.service === resolved || (e.object.kind === 'service' && e.object.name === resolved)
        : e.object.kind === kind && (e.object.name === resolved || e.object.id === resolved);
  }
  const items = await client.listEvents(filter);
  const watch = boolOpt(args.values, 'watch');
  if (format === 'json' || format === 'yaml') {
    if (!watch) ctx.out(renderMachine({ items }, format));
  } else if (items.length) {
    const view = eventsView(items, ctx.now());
    ctx.out(renderTable(view.headers, view.rows));
  } else if (!watch) {
    ctx.err('No events found.');
  }
  if (!watch) return 0;
  return watchChanges<BerthEvent>(ctx, client, {
    kind: WatchKind.Events,
    format,
    initial: format === 'json' ? [] : items,
    keyOf: (e) => e.id,
    fingerprint: (e) => e.id,
    matches,
    view: (list) => eventsView(list, ctx.now()),
    immutable: true,
  });
}
