// `berth server leave` and `berth server rm NAME`: client commands under the `server` verb (the
// daemon hands them here). leave: the server the client talks to (its berth.yaml, or --server)
// removes its etcd member and stops, as `docker swarm leave` run on a manager. rm: a stopped
// server's etcd member and registration are removed. Both admin only; refused when etcd would
// lose its quorum or keep no member.
import { UsageError, type ClientCommand } from '../command.js';

export const serverAdminCommand: ClientCommand = {
  name: 'server',
  summary: 'Make the server leave the cluster, or remove a stopped server',
  usage: 'berth server leave | berth server rm NAME',
  description:
    'leave: the server this client talks to (the context, --server, or --config /var/lib/berth/berth.yaml\n' +
    '  on its machine) removes its etcd member from the cluster and stops; its data dir\'s etcd data is\n' +
    '  deleted, so it can only come back with --join. Refused for the only server, and when the\n' +
    '  servers left running would not be a majority of the etcd members that remain.\n' +
    'rm NAME: removes a stopped (dead) server: its etcd member and its registration. Refused while it\n' +
    '  runs (use leave), and on the same conditions as leave.',
  examples: ['berth --config /var/lib/berth/berth.yaml server leave', 'berth server rm cp-3'],
  options: {},
  async run(ctx, args) {
    const [action, ...names] = args.positionals;
    if (action === 'leave') {
      if (names.length) throw new UsageError('server leave takes no NAME: it is the server the client talks to', 'server');
      const res = await ctx.client().request<{ name: string; message: string }>('POST', '/v1/servers/leave');
      ctx.out(res.message);
      return 0;
    }
    if (action === 'rm') {
      if (names.length !== 1) throw new UsageError('server rm takes one server NAME', 'server');
      const res = await ctx.client().request<{ removed: string; memberId: string }>('DELETE', `/v1/servers/${encodeURIComponent(names[0]!)}`);
      ctx.out(`server/${res.removed} removed (etcd member ${res.memberId})`);
      return 0;
    }
    throw new UsageError(`unknown server action "${action}": use leave or rm`, 'server');
  },
};
