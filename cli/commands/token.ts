// `berth token rotate join`: replaces the cluster's join token and prints the new one (once: the
// server keeps only its hash, and a copy in its data dir's join-token file). Nodes that already
// joined are not affected: they connect with their certificates.
import { UsageError, type ClientCommand } from '../command.js';

export const tokenCommand: ClientCommand = {
  name: 'token',
  summary: 'Rotate the join token',
  usage: 'berth token rotate join',
  description:
    'rotate join: makes a new join token, prints it, and refuses the previous one from now on.\n' +
    'Nodes that joined keep working; new nodes need the new token. The server also writes it to\n' +
    'its data dir (join-token).',
  examples: ['berth token rotate join > join-token'],
  options: {},
  async run(ctx, args) {
    const [action, kind, ...rest] = args.positionals;
    if (action !== 'rotate') throw new UsageError(action ? `unknown token action "${action}": use rotate` : 'token needs an action: rotate', 'token');
    if (kind !== 'join') throw new UsageError(kind ? `cannot rotate "${kind}" tokens: only join` : 'token rotate needs a token kind: join', 'token');
    if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`, 'token');
    const res = await ctx.client().request<{ token: string }>('POST', '/v1/tokens/join/rotate');
    ctx.out(res.token);
    ctx.err('join token rotated: the previous one no longer works; joined nodes are not affected');
    return 0;
  },
};
