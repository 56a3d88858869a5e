// `berth volume ls` (the named volumes of every node, as their agents report them) and
// `berth volume rm NAME [--node N]` (refused while a task uses it).
import { stringOpt, UsageError, type ClientCommand } from '../command.js';
import { formatAge } from '../output/age.js';
import { parseOutputFormat, renderMachine } from '../output/format.js';
import { NONE, renderTable } from '../output/table.js';

interface VolumeRow {
  name: string;
  node: string;
  nodeId: string;
  service?: string;
  createdAt?: string;
  inUse: boolean;
}

export const volumeCommand: ClientCommand = {
  name: 'volume',
  summary: 'List the named volumes of the nodes, or remove one',
  usage: 'berth volume ls [--node N] [-o table|json|yaml] | berth volume rm NAME [--node N]',
  description:
    'A named volume (spec.volumes: [{name, target}]) is created on the node of the first task that\n' +
    'mounts it and kept when tasks end or the service is deleted; the service is then pinned to\n' +
    'that node. ls: NAME, NODE, SERVICE, IN USE, CREATED. rm: removes it from its node (say which\n' +
    'node with --node when several have one of that name); refused while a task uses it.',
  examples: ['berth volume ls', 'berth volume rm pgdata --node node-2'],
  options: {
    node: { type: 'string', valueName: 'NODE', description: 'only this node (ls), the node to remove it from (rm)' },
    output: { type: 'string', short: 'o', valueName: 'FORMAT', description: 'ls: table, json or yaml (default table)' },
  },
  async run(ctx, args) {
    const [action, ...names] = args.positionals;
    const node = stringOpt(args.values, 'node');
    if (action === 'ls' || action === 'list') {
      if (names.length) throw new UsageError('volume ls takes no NAME', 'volume');
      const format = parseOutputFormat(stringOpt(args.values, 'output'));
      if (!format || format === 'wide') throw new UsageError(`volume ls prints a table, json or yaml (got "${stringOpt(args.values, 'output')}")`, 'volume');
      const { items } = await ctx.client().request<{ items: VolumeRow[] }>('GET', '/v1/volumes');
      const rows = items.filter((v) => node === undefined || v.node === node || v.nodeId === node);
      if (format === 'json' || format === 'yaml') {
        ctx.out(renderMachine({ items: rows }, format));
        return 0;
      }
      const now = ctx.now();
      ctx.out(renderTable(['NAME', 'NODE', 'SERVICE', 'IN USE', 'CREATED'], rows.map((v) => [v.name, v.node, v.service ?? NONE, v.inUse ? 'yes' : 'no', v.createdAt ? `${formatAge(v.createdAt, now)} ago` : NONE])));
      return 0;
    }
    if (action === 'rm') {
      if (names.length !== 1) throw new UsageError('volume rm takes one volume NAME', 'volume');
      const name = names[0]!;
      const res = await ctx.client().request<{ name: string; node: string }>('DELETE', `/v1/volumes/${encodeURIComponent(name)}${node ? `?node=${encodeURIComponent(node)}` : ''}`);
      ctx.out(`volume/${res.name} removed from node ${res.node}`);
      return 0;
    }
    throw new UsageError(action ? `unknown volume action "${action}": use ls or rm` : 'volume needs an action: ls, rm', 'volume');
  },
};
