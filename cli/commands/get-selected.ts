// `get` with a label selector (-l), a script output (-o name, -o jsonpath=...) or --no-headers:
// lists the objects, keeps those the selector matches, and prints them. Tasks carry no labels
// of their own: a task matches when its service's labels do.
import type { Task } from '../../common/types.js';
import type { ApiClient, NodeView, ServiceView } from '../api-client.js';
import { boolOpt, stringOpt, UsageError, type CommandContext, type ParsedArgs } from '../command.js';
import { renderMachine, type OutputFormat } from '../output/format.js';
import { objectName, renderScriptOutput, withoutHeaders, type Listed, type ScriptOutput } from '../output/script-output.js';
import { renderTable } from '../output/table.js';
import { nodesView, servicesView, sortTasks, tasksView, type TableView } from '../output/views.js';
import { Kind } from '../resources.js';
import { matchesSelector, parseSelector, type Selector } from '../selector.js';

export interface SelectedGet {
  kind: Kind;
  name?: string;
  /** The table or machine format; ignored when `script` is set. */
  format: OutputFormat;
  script?: ScriptOutput;
}

/** Whether `get` must take this path: -l, --no-headers or a script output was asked for. */
export function wantsSelectedGet(args: ParsedArgs, script: ScriptOutput | undefined): boolean {
  return script !== undefined || stringOpt(args.values, 'selector') !== undefined || boolOpt(args.values, 'no-headers');
}

export async function getSelected(ctx: CommandContext, args: ParsedArgs, req: SelectedGet): Promise<number> {
  const selText = stringOpt(args.values, 'selector');
  const selector = selText !== undefined ? parseSelector(selText) : undefined;
  if (selector && req.name) throw new UsageError('give either a NAME or -l SELECTOR, not both', 'get');
  if (boolOpt(args.values, 'watch')) throw new UsageError('-w cannot be combined with -l, --no-headers, -o name or -o jsonpath yet', 'get');
  const client = ctx.client();
  const single = req.name !== undefined;
  const items = await listMatching(client, req.kind, req.name, selector, {
    service: stringOpt(args.values, 'service'),
    node: stringOpt(args.values, 'node'),
  });
  if (req.script) {
    const text = renderScriptOutput(req.script, req.kind, single, items);
    if (text) ctx.out(text);
    else if (!items.length && req.script.kind === 'name') ctx.err(`No ${req.kind}s found.`);
    return 0;
  }
  if (req.format === 'json' || req.format === 'yaml') {
    ctx.out(renderMachine(single ? items[0] : { items }, req.format));
    return 0;
  }
  if (!items.length) {
    ctx.err(`No ${req.kind}s found${selector ? ` matching "${selText}"` : ''}.`);
    return 0;
  }
  const view = await tableOf(client, req.kind, items, ctx.now(), req.format === 'wide');
  const table = renderTable(view.headers, view.rows);
  ctx.out(boolOpt(args.values, 'no-headers') ? withoutHeaders(table) : table);
  return 0;
}

/** The objects of `kind` (one when named), filtered by the selector, in table order. */
export async function listMatching(
  client: ApiClient,
  kind: Kind,
  name: string | undefined,
  selector: Selector | undefined,
  filter: { service?: string; node?: string } = {},
): Promise<Listed[]> {
  const byName = <T extends Listed>(list: T[]) => list.sort((a, b) => objectName(kind, a).localeCompare(objectName(kind, b)));
  switch (kind) {
    case Kind.Service: {
      const list = name ? [await client.getService(name)] : await client.listServices();
      return byName(list.filter((s) => !selector || matchesSelector(selector, s.metadata.labels)));
    }
    case Kind.Task: {
      const nodeId = filter.node ? (await client.getNode(filter.node)).id : undefined;
      let list = name
        ? [await client.getTask(name)]
        : await client.listTasks({ ...(filter.service ? { service: filter.service } : {}), ...(nodeId ? { node: nodeId } : {}) });
      if (selector) {
        const labels = new Map((await client.listServices()).map((s) => [s.metadata.name, s.metadata.labels]));
        list = list.filter((t) => matchesSelector(selector, labels.get(t.serviceName)));
      }
      return sortTasks(list);
    }
    case Kind.Node: {
      const list = name ? [await client.getNode(name)] : await client.listNodes();
      return byName(list.filter((n) => !selector || matchesSelector(selector, n.labels)));
    }
  }
}

async function tableOf(client: ApiClient, kind: Kind, items: readonly Listed[], now: number, wide: boolean): Promise<TableView> {
  switch (kind) {
    case Kind.Service:
      return servicesView(items as ServiceView[], now, wide);
    case Kind.Task: {
      const tasks = items as Task[];
      return tasksView(tasks, await client.nodeNames(tasks), now, wide);
    }
    case Kind.Node:
      return nodesView(items as NodeView[], now, wide);
  }
}
