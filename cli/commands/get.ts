// `berth get services|tasks|nodes [NAME]`: tables for people, json/yaml for scripts.
import { stringOpt, UsageError, type ClientCommand, type CommandContext } from '../command.js';
import { OUTPUT_FORMATS, parseOutputFormat, renderMachine, type OutputFormat } from '../output/format.js';
import { renderTable } from '../output/table.js';
import { nodesView, servicesView, tasksView, type TableView } from '../output/views.js';
import { Kind, parseKindAndNames } from '../resources.js';

export const getCommand: ClientCommand = {
  name: 'get',
  summary: 'List services, tasks or nodes',
  usage: 'berth get services|tasks|nodes [NAME] [-o table|wide|json|yaml] [flags]',
  description:
    'Kinds: services (service, svc), tasks (task), nodes (node, no). With a NAME, shows that one object.\n' +
    'A task NAME may be its name, its id or a unique id prefix; a node NAME its name or id.',
  examples: [
    'berth get services',
    'berth get svc web -o yaml',
    'berth get tasks --service web -o wide',
    'berth get nodes -o json',
  ],
  options: {
    output: { type: 'string', short: 'o', valueName: 'FORMAT', description: `output format: ${OUTPUT_FORMATS.join(', ')} (default table)` },
    service: { type: 'string', valueName: 'NAME', description: 'tasks only: only the tasks of this service' },
    node: { type: 'string', valueName: 'NODE', description: 'tasks only: only the tasks on this node (name or id)' },
  },
  async run(ctx, args) {
    const { kind, names } = parseKindAndNames(args.positionals, 'get');
    const format = parseOutputFormat(stringOpt(args.values, 'output'));
    if (!format) {
      throw new UsageError(`unknown output format "${stringOpt(args.values, 'output')}": use ${OUTPUT_FORMATS.join(', ')}`, 'get');
    }
    if (names.length > 1) throw new UsageError('get takes at most one NAME', 'get');
    const service = stringOpt(args.values, 'service');
    const node = stringOpt(args.values, 'node');
    if ((service || node) && kind !== Kind.Task) throw new UsageError('--service and --node apply to tasks only', 'get');
    const name = names[0];
    const client = ctx.client();
    switch (kind) {
      case Kind.Service: {
        const items = name ? [await client.getService(name)] : await client.listServices();
        return print(ctx, format, name !== undefined, items, 'services', (wide) => servicesView(items, ctx.now(), wide));
      }
      case Kind.Task: {
        const nodeId = node ? (await client.getNode(node)).id : undefined;
        const items = name
          ? [await client.getTask(name)]
          : await client.listTasks({ ...(service ? { service } : {}), ...(nodeId ? { node: nodeId } : {}) });
        const byId = format === 'json' || format === 'yaml' ? new Map<string, string>() : await client.nodeNames(items);
        return print(ctx, format, name !== undefined, items, 'tasks', (wide) => tasksView(items, byId, ctx.now(), wide));
      }
      case Kind.Node: {
        const items = name ? [await client.getNode(name)] : await client.listNodes();
        return print(ctx, format, name !== undefined, items, 'nodes', (wide) => nodesView(items, ctx.now(), wide));
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
): number {
  if (format === 'json' || format === 'yaml') {
    ctx.out(renderMachine(single ? items[0] : { items }, format));
    return 0;
  }
  if (!items.length) {
    ctx.err(`No ${plural} found.`);
    return 0;
  }
  const view = table(format === 'wide');
  ctx.out(renderTable(view.headers, view.rows));
  return 0;
}
