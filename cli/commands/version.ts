// `berth version`: the client's version, and with --check-server whether the configured server
// answers /healthz.
import { boolOpt, type ClientCommand } from '../command.js';
import { clientVersion } from '../../common/version.js';

export const versionCommand: ClientCommand = {
  name: 'version',
  summary: 'Print the client version',
  usage: 'berth version [--check-server]',
  examples: ['berth version', 'berth version --check-server'],
  options: {
    'check-server': { type: 'boolean', description: 'also check that the configured server answers /healthz' },
  },
  async run(ctx, args) {
    ctx.out(`berth ${clientVersion()} (node ${process.version})`);
    if (boolOpt(args.values, 'check-server')) {
      const client = ctx.client();
      const h = await client.health();
      ctx.out(`server ${client.server}: ${h.status}`);
    }
    return 0;
  },
};
