// `berth version`: the client's version and each server's (GET /v1/servers); with --client the
// client's only, with --check-server also whether the configured server answers /healthz (and a
// failure to reach it is then an error).
import { errorMessage } from '../../common/errors.js';
import { boolOpt, type ClientCommand } from '../command.js';
import { clientVersion } from '../../common/version.js';

interface ServerVersion {
  name: string;
  apiUrl: string;
  serverVersion: string;
  leader: boolean;
}

export const versionCommand: ClientCommand = {
  name: 'version',
  summary: 'Print the client version and the servers\' versions',
  usage: 'berth version [--client] [--check-server]',
  description:
    'Prints the client\'s version, then the version of every server of the cluster the client is\n' +
    'configured for (one line each). A server that cannot be asked is reported on stderr (exit 0),\n' +
    'unless --check-server is given. Nodes\' agent versions: berth get nodes -o wide.',
  examples: ['berth version', 'berth version --client', 'berth version --check-server'],
  options: {
    client: { type: 'boolean', description: 'print the client version only (no server contacted)' },
    'check-server': { type: 'boolean', description: 'also check that the configured server answers /healthz' },
  },
  async run(ctx, args) {
    ctx.out(`berth ${clientVersion()} (node ${process.version})`);
    if (boolOpt(args.values, 'client')) return 0;
    const check = boolOpt(args.values, 'check-server');
    try {
      const client = ctx.client();
      if (check) {
        const h = await client.health();
        ctx.out(`server ${client.server}: ${h.status}`);
      }
      const { items } = await client.request<{ items: ServerVersion[] }>('GET', '/v1/servers');
      for (const s of items) ctx.out(`server ${s.name} (${s.apiUrl}${s.leader ? ', leader' : ''}): berth ${s.serverVersion}`);
    } catch (err) {
      if (check) throw err;
      ctx.err(`server version unknown: ${errorMessage(err)}`);
    }
    return 0;
  },
};
