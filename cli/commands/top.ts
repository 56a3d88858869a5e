// `berth top nodes` and `berth top tasks [--service NAME] [--node NAME]`: CPU and memory the
// tasks' containers use, against what they requested and what the nodes offer, as `kubectl top`
// (GET /v1/usage/nodes, GET /v1/usage/tasks; docs/metrics.md).
import { formatCpu, formatMemory } from '../../common/quantity.js';
import type { NodeUsage, TaskUsage, UsageList } from '../../common/usage.js';
import { stringOpt, UsageError, type ClientCommand, type CommandContext } from '../command.js';
import { parseOutputFormat, renderMachine, type OutputFormat } from '../output/format.js';
import { NONE, renderTable } from '../output/table.js';

export const topCommand: ClientCommand = {
  name: 'top',
  summary: 'Show the CPU and memory used by nodes or tasks',
  usage: 'berth top nodes | berth top tasks [--service NAME] [--node NAME] [-o table|json|yaml]',
  description:
    'Usage as the agents measure it (Docker Engine stats, every 5 s), against what the tasks\n' +
    'requested (their services\' resources) and what the nodes offer (allocatable). CPU in cores\n' +
    '(250m is a quarter of one core), memory as `docker stats` shows it. Nodes of the process\n' +
    'runtime report none. With several servers, each knows its own agents; a server that does\n' +
    'not answer is named in a warning and its nodes are missing.',
  examples: ['berth top nodes', 'berth top tasks --service web'],
  options: {
    service: { type: 'string', valueName: 'NAME', description: 'tasks: only this service\'s' },
    node: { type: 'string', valueName: 'NAME', description: 'tasks: only those on this node' },
    output: { type: 'string', short: 'o', valueName: 'FORMAT', description: 'table, json or yaml (default table)' },
  },
  async run(ctx, args) {
    const [what, ...rest] = args.positionals;
    if (rest.length) throw new UsageError(`top ${what} takes no NAME (use --service or --node)`, 'top');
    const format = parseOutputFormat(stringOpt(args.values, 'output'));
    if (!format || format === 'wide') throw new UsageError(`top prints a table, json or yaml (got "${stringOpt(args.values, 'output')}")`, 'top');
    const service = stringOpt(args.values, 'service');
    const node = stringOpt(args.values, 'node');
    if (what === 'nodes' || what === 'node' || what === 'no') {
      if (service !== undefined || node !== undefined) throw new UsageError('top nodes takes no --service or --node', 'top');
      const list = await ctx.client().request<UsageList<NodeUsage>>('GET', '/v1/usage/nodes');
      return show(ctx, list, format, () => nodesTable(list.items), 'No usage reported yet (nodes send it every 5 s; process-runtime nodes send none).');
    }
    if (what === 'tasks' || what === 'task') {
      const qs = new URLSearchParams({ ...(service !== undefined ? { service } : {}), ...(node !== undefined ? { node } : {}) });
      const list = await ctx.client().request<UsageList<TaskUsage>>('GET', `/v1/usage/tasks${qs.size ? `?${qs.toString()}` : ''}`);
      return show(ctx, list, format, () => tasksTable(list.items), 'No running task has reported usage yet.');
    }
    throw new UsageError(what ? `unknown top target "${what}": use nodes or tasks` : 'top needs a target: nodes or tasks', 'top');
  },
};

function show<T>(ctx: CommandContext, list: UsageList<T>, format: OutputFormat, table: () => string, empty: string): number {
  if (format === 'json' || format === 'yaml') {
    ctx.out(renderMachine(list, format));
    return 0;
  }
  if (list.unreachable?.length) ctx.err(`warning: servers ${list.unreachable.join(', ')} did not answer: their nodes are missing`);
  if (!list.items.length) ctx.err(empty);
  else ctx.out(table());
  return 0;
}

/** `1.25` cores as `1250m`, whole cores as `2`. */
export function cores(millicores: number): string {
  return formatCpu(Math.round(millicores));
}

function percent(used: number, of: number): string {
  return of > 0 ? `${Math.round((used / of) * 100)}%` : NONE;
}

export function nodesTable(items: readonly NodeUsage[]): string {
  const rows = items.map((n) => [
    n.node,
    cores(n.cpu),
    percent(n.cpu, n.allocatable.cpu),
    formatMemory(n.memory),
    percent(n.memory, n.allocatable.memory),
    `${cores(n.requested.cpu)}/${cores(n.allocatable.cpu)}`,
    `${formatMemory(n.requested.memory)}/${formatMemory(n.allocatable.memory)}`,
    String(n.tasks),
  ]);
  return renderTable(['NAME', 'CPU(cores)', 'CPU%', 'MEMORY(bytes)', 'MEMORY%', 'CPU REQUESTED/ALLOCATABLE', 'MEMORY REQUESTED/ALLOCATABLE', 'TASKS'], rows);
}

export function tasksTable(items: readonly TaskUsage[]): string {
  const rows = items.map((t) => [
    t.task,
    t.service,
    t.node,
    cores(t.cpu),
    t.requested.cpu ? `${cores(t.requested.cpu)} (${percent(t.cpu, t.requested.cpu)})` : NONE,
    formatMemory(t.memory),
    t.requested.memory ? `${formatMemory(t.requested.memory)} (${percent(t.memory, t.requested.memory)})` : NONE,
  ]);
  return renderTable(['NAME', 'SERVICE', 'NODE', 'CPU(cores)', 'CPU REQUESTED', 'MEMORY(bytes)', 'MEMORY REQUESTED'], rows);
}
