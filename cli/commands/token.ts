// `berth token create|list|revoke`: API tokens with roles (admin only), and `berth token rotate
// join`, which replaces the cluster's join token. The actions are in api-tokens.ts.
import { UsageError, type ClientCommand } from '../command.js';
import { ROLES } from '../../common/access.js';
import { createToken, listTokens, revokeToken, rotateJoinToken } from './api-tokens.js';

const ACTIONS = ['create', 'list', 'revoke', 'rotate'] as const;

export const tokenCommand: ClientCommand = {
  name: 'token',
  summary: 'Create, list or revoke API tokens with roles; rotate the join or manager token',
  usage: `berth token create NAME --role ${ROLES.join('|')} [--ttl DURATION] | berth token list [-o table|json|yaml] | berth token revoke NAME | berth token rotate join|manager`,
  description:
    'create: prints the new token alone on standard output (it is shown only this once; the server\n' +
    '  keeps its SHA-256 only). --ttl (30m, 12h, 7d, 1h30m...) makes it expire.\n' +
    'Roles: viewer reads services, tasks, nodes and events; operator also applies, scales,\n' +
    '  deletes, rolls out, reads logs, execs and reads the audit log; admin also manages nodes\n' +
    '  and tokens. The cluster admin token is the built-in token "admin" (cannot be revoked).\n' +
    'list: NAME, ROLE, CREATED, EXPIRES, LAST USED; never the tokens.\n' +
    'revoke: calls with the token are refused (401) from then on.\n' +
    'rotate join: makes a new join token, prints it, and refuses the previous one from now on.\n' +
    '  Nodes that joined keep working; new nodes need the new token. The server also writes it to\n' +
    '  its data dir (join-token).\n' +
    'rotate manager: the same for the manager token, which lets servers join (berth server --join);\n' +
    '  servers that joined are not affected (manager-token in the answering server\'s data dir).',
  examples: ['TOKEN=$(berth token create ci --role operator --ttl 30d)', 'berth token list', 'berth token revoke ci', 'berth token rotate join > join-token'],
  options: {
    role: { type: 'string', valueName: 'ROLE', description: `create: the token's role, one of ${ROLES.join(', ')}` },
    ttl: { type: 'string', valueName: 'DURATION', description: 'create: expire after this long (default never)' },
    output: { type: 'string', short: 'o', valueName: 'FORMAT', description: 'list: table, json or yaml (default table)' },
  },
  async run(ctx, args) {
    const [action, ...names] = args.positionals;
    if (!action) throw new UsageError(`token needs an action: ${ACTIONS.join(', ')}`, 'token');
    if (action === 'list') {
      if (names.length) throw new UsageError('token list takes no NAME', 'token');
      return listTokens(ctx, args);
    }
    if (action === 'rotate') return rotateJoinToken(ctx, names);
    if (action !== 'create' && action !== 'revoke') throw new UsageError(`unknown token action "${action}": use one of ${ACTIONS.join(', ')}`, 'token');
    if (names.length !== 1) throw new UsageError(`token ${action} takes one token NAME`, 'token');
    return action === 'create' ? createToken(ctx, args, names[0]!) : revokeToken(ctx, names[0]!);
  },
};
