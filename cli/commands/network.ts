// `berth network create NAME`, `berth network ls`, `berth network rm NAME`: the networks services
// can be on (spec.networks); a task resolves and reaches only services sharing one of its networks.
import { stringOpt, UsageError, type ClientCommand } from '../command.js';
import { formatAge } from '../output/age.js';
import { parseOutputFormat, renderMachine } from '../output/format.js';
import { NONE, renderTable } from '../output/table.js';

interface NetworkRow {
  name: string;
  createdAt?: string;
  builtIn: boolean;
  services: string[];
}

export const networkCommand: ClientCommand = {
  name: 'network',
  summary: 'Create, list or remove the networks services can be on',
  usage: 'berth network create NAME | berth network ls [-o table|json|yaml] | berth network rm NAME',
  description:
    'A service is on the networks it names (spec.networks) or, naming none, on the network\n' +
    '"default". A task resolves (DNS) and reaches (packet filter) only the services that share one\n' +
    'of its networks. A service naming a network that does not exist is refused at apply; a\n' +
    'network some service names cannot be removed. ls: NAME, SERVICES, CREATED.',
  examples: ['berth network create backend', 'berth network ls', 'berth network rm backend'],
  options: {
    output: { type: 'string', short: 'o', valueName: 'FORMAT', description: 'ls: table, json or yaml (default table)' },
  },
  async run(ctx, args) {
    const [action, ...names] = args.positionals;
    if (action === 'ls' || action === 'list') {
      if (names.length) throw new UsageError('network ls takes no NAME', 'network');
      const format = parseOutputFormat(stringOpt(args.values, 'output'));
      if (!format || format === 'wide') throw new UsageError(`network ls prints a table, json or yaml (got "${stringOpt(args.values, 'output')}")`, 'network');
      const { items } = await ctx.client().request<{ items: NetworkRow[] }>('GET', '/v1/networks');
      if (format === 'json' || format === 'yaml') {
        ctx.out(renderMachine({ items }, format));
        return 0;
      }
      const now = ctx.now();
      ctx.out(renderTable(['NAME', 'SERVICES', 'CREATED'], items.map((n) => [n.name, n.services.join(',') || NONE, n.builtIn ? 'built in' : n.createdAt ? `${formatAge(n.createdAt, now)} ago` : NONE])));
      return 0;
    }
    if (action === 'create' || action === 'rm') {
      if (names.length !== 1) throw new UsageError(`network ${action} takes one network NAME`, 'network');
      const name = names[0]!;
      if (action === 'create') {
        await ctx.client().request('POST', '/v1/networks', { name });
        ctx.out(`network/${name} created`);
      } else {
        await ctx.client().request('DELETE', `/v1/networks/${encodeURIComponent(name)}`);
        ctx.out(`network/${name} removed`);
      }
      return 0;
    }
    throw new UsageError(action ? `unknown network action "${action}": use create, ls or rm` : 'network needs an action: create, ls, rm', 'network');
  },
};
