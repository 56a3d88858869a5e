// `berth get services|tasks|nodes|events [NAME]`: tables for people, json/yaml for scripts; -w
// follows changes.
import { boolOpt, stringOpt, UsageError, type ClientCommand, type CommandContext } from '../command.js';
import { OUTPUT_FORMATS, OutputFormat, parseOutputFormat, renderMachine } from '../output/format.js';
import { parseScriptOutput, SCRIPT_OUTPUT_FORMS } from '../output/script-output.js';
import { renderTable } from '../output/table.js';
import { nodesView, servicesView, tasksView, type TableView } from '../output/views.js';
import { Kind, parseKindAndNames } from '../resources.js';
import { WatchKind } from '../../common/watch.js';
import type { Task } from '../../common/types.js';
import type { NodeView, ServiceView } from '../api-client.js';
import { EVENT_KIND_NAMES, getEvents } from './get-events.js';
import { watchChanges } from './get-watch.js';
import { getSelected, wantsSelectedGet } from './get-selected.js';
import { AUDIT_KIND_NAMES, getAudit } from './get-audit.js';
import { getServers, SERVER_KIND_NAMES } from './get-servers.js';
import { ENDPOINT_KIND_NAMES, getEndpoints } from './get-endpoints.js';

export const getCommand: ClientCommand = {
  name: 'get',
  summary: 'List services, tasks, nodes, events, servers, endpoints or the audit log',
  usage: 'berth get services|tasks|nodes|events|servers|endpoints|audit [NAME] [-l SELECTOR] [-o table|wide|json|yaml|name|jsonpath=T] [-w] [flags]',
  description:
    'Kinds: services (service, svc), tasks (task), nodes (node, no). With a NAME, shows that one object.\n' +
    'A task NAME may be its name, its id or a unique id prefix; a node NAME its name or id.\n' +
    'events (event, ev) lists what happened, oldest first; --for KIND/NAME narrows it to one object.\n' +
    'servers (server) lists the control-plane servers and which one leads.\n' +
    'endpoints (endpoint, ep) [SERVICE] shows services\' virtual addresses and the ready tasks behind them.\n' +
    'audit lists the API calls that changed something (operators and admins), oldest first.\n' +
    'With -w, the list is followed by a line per change until Ctrl-C.',
  examples: [
    'berth get services',
    'berth get svc web -o yaml',
    'berth get tasks --service web -o wide',
    'berth get nodes -o json',
    'berth get tasks -w',
    'berth get events --for service/web',
    'berth get audit -w',
    'berth get services -l app=web,tier!=db -o name',
    "berth get tasks -o jsonpath='{range .items[*]}{.name}{\"\\t\"}{.status.state}{\"\\n\"}{end}'",
  ],
  options: {
    output: { type: 'string', short: 'o', valueName: 'FORMAT', description: `output format: ${[...OUTPUT_FORMATS, ...SCRIPT_OUTPUT_FORMS].join(', ')} (default table)` },
    service: { type: 'string', valueName: 'NAME', description: 'tasks only: only the tasks of this service' },
    node: { type: 'string', valueName: 'NODE', description: 'tasks only: only the tasks on this node (name or id)' },
    watch: { type: 'boolean', short: 'w', description: 'after the list, print a line per change until Ctrl-C' },
    for: { type: 'string', valueName: 'KIND/NAME', description: 'events only: the events of one service (and its tasks), task or node' },
    selector: { type: 'string', short: 'l', valueName: 'SELECTOR', description: 'only objects whose labels match: k=v,k!=v,k in (a,b),k notin (a,b),k,!k (tasks: their service\'s labels)' },
    'no-headers': { type: 'boolean', description: 'tables without the header line' },
  },
  async run(ctx, args) {
    const script = parseScriptOutput(stringOpt(args.values, 'output'));
    const format = script ? OutputFormat.Table : parseOutputFormat(stringOpt(args.values, 'output'));
    if (!format) {
      const forms = [...OUTPUT_FORMATS, ...SCRIPT_OUTPUT_FORMS].join(', ');
      throw new UsageError(`unknown output format "${stringOpt(args.values, 'output')}": use ${forms}`, 'get');
    }
    if (boolOpt(args.values, 'watch') && format === 'yaml') throw new UsageError('-w prints a table, or one JSON change per line with -o json', 'get');
    if (EVENT_KIND_NAMES.includes(args.positionals[0]?.toLowerCase() ?? '')) return getEvents(ctx, args, format);
    if (AUDIT_KIND_NAMES.includes(args.positionals[0]?.toLowerCase() ?? '')) return getAudit(ctx, args, format);
    if (SERVER_KIND_NAMES.includes(args.positionals[0]?.toLowerCase() ?? '')) return getServers(ctx, args, format);
    if (ENDPOINT_KIND_NAMES.includes(args.positionals[0]?.toLowerCase() ?? '')) return getEndpoints(ctx, args, format);
    if (stringOpt(args.values, 'for')) throw new UsageError('--for applies to events only', 'get');
    const { kind, names } = parseKindAndNames(args.positionals, 'get');
    const watch = boolOpt(args.values, 'watch');
    // With -w -o json, the watch's first messages are the list: one JSON change per line.
    const quiet = watch && format === 'json';
    if (names.length > 1) throw new UsageError('get takes at most one NAME', 'get');
    const service = stringOpt(args.values, 'service');
    const node = stringOpt(args.values, 'node');
    if ((service || node) && kind !== Kind.Task) throw new UsageError('--service and --node apply to tasks only', 'get');
    if (wantsSelectedGet(args, script)) return getSelected(ctx, args, { kind, format, ...(names[0] !== undefined ? { name: names[0] } : {}), ...(script ? { script } : {}) });
    const name = names[0];
    const client = ctx.client();
    switch (kind) {
      case Kind.Service: {
        const items = name ? [await client.getService(name)] : await client.listServices();
        const view = (list: readonly ServiceView[], wide: boolean) => servicesView(list, ctx.now(), wide);
        if (!quiet) print(ctx, format, name !== undefined, items, 'services', (wide) => view(items, wide), watch);
        if (!watch) return 0;
        return watchChanges<ServiceView>(ctx, client, {
          kind: WatchKind.Services, format, initial: quiet ? [] : items, view,
          keyOf: (s) => s.metadata.name,
          fingerprint: (s) => `${s.metadata.version}:${JSON.stringify(s.status ?? {})}`,
          matches: (s) => !name || s.metadata.name === name,
        });
      }
      case Kind.Task: {
        const nodeId = node ? (await client.getNode(node)).id : undefined;
        const items = name
          ? [await client.getTask(name)]
          : await client.listTasks({ ...(service ? { service } : {}), ...(nodeId ? { node: nodeId } : {}) });
        const byId = format === 'json' || format === 'yaml' ? new Map<string, string>() : await client.nodeNames(items);
        const view = (list: readonly Task[], wide: boolean) => tasksView(list, byId, ctx.now(), wide);
        if (!quiet) print(ctx, format, name !== undefined, items, 'tasks', (wide) => view(items, wide), watch);
        if (!watch) return 0;
        const one = items[0];
        return watchChanges<Task>(ctx, client, {
          kind: WatchKind.Tasks, format, initial: quiet ? [] : items, view,
          keyOf: (t) => t.id,
          fingerprint: (t) => String(t.version),
          matches: (t) => (!name || t.id === one?.id) && (!service || t.serviceName === service) && (!nodeId || t.nodeId === nodeId),
          prepare: async (t) => {
            if (!t.nodeId || byId.has(t.nodeId) || format === 'json') return;
            for (const [id, n] of await client.nodeNames([t])) byId.set(id, n);
          },
        });
      }
      case Kind.Node: {
        const items = name ? [await client.getNode(name)] : await client.listNodes();
        const view = (list: readonly NodeView[], wide: boolean) => nodesView(list, ctx.now(), wide);
        if (!quiet) print(ctx, format, name !== undefined, items, 'nodes', (wide) => view(items, wide), watch);
        if (!watch) return 0;
        const one = items[0];
        return watchChanges<NodeView>(ctx, client, {
          kind: WatchKind.Nodes, format, initial: quiet ? [] : items, view,
          keyOf: (n) => n.id,
          fingerprint: (n) => `${n.version}:${n.tasks}`,
          matches: (n) => !name || n.id === one?.id,
        });
      }
    }
  },
};

function print(
  ctx: CommandContext,
  format: OutputFormat,
  single: boolean,
  items: readonly unknown[],
  plural: string,
  table: (wide: boolean) => TableView,
  watching = false,
): number {
  if (format === 'json' || format === 'yaml') {
    ctx.out(renderMachine(single ? items[0] : { items }, format));
    return 0;
  }
  if (!items.length) {
    if (!watching) ctx.err(`No ${plural} found.`);
    return 0;
  }
  const view = table(format === 'wide');
  ctx.out(renderTable(view.headers, view.rows));
  return 0;
}
