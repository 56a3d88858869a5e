// `berth registry login HOST[:PORT] -u USER --password-stdin`, `berth registry logout HOST`,
// `berth registry ls`: credentials of private registries, kept by the cluster as secrets (sealed
// with the secrets key) and given only to the nodes that pull an image from that host. The
// password is read from standard input only (never an argument: it would sit in the shell's
// history and the process list) and never printed.
import type { RegistryInfo } from '../../common/types.js';
import { boolOpt, stringOpt, UsageError, type ClientCommand, type CommandContext, type ParsedArgs } from '../command.js';
import { formatAge } from '../output/age.js';
import { parseOutputFormat, renderMachine } from '../output/format.js';
import { renderTable } from '../output/table.js';

const ACTIONS = ['login', 'logout', 'ls'] as const;

async function readPassword(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  // As `docker login --password-stdin`: one trailing newline is not part of the password.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function list(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const format = parseOutputFormat(stringOpt(args.values, 'output'));
  if (!format || format === 'wide') throw new UsageError(`registry ls prints a table, json or yaml (got "${stringOpt(args.values, 'output')}")`, 'registry');
  const { items } = await ctx.client().request<{ items: RegistryInfo[] }>('GET', '/v1/registries');
  if (format === 'json' || format === 'yaml') {
    ctx.out(renderMachine({ items }, format));
    return 0;
  }
  const now = ctx.now();
  ctx.out(renderTable(['HOST', 'USER', 'UPDATED'], items.map((r) => [r.host, r.username, `${formatAge(r.updatedAt, now)} ago`])));
  return 0;
}

export const registryCommand: ClientCommand = {
  name: 'registry',
  summary: 'Store, list or forget the credentials of private registries (kept as secrets)',
  usage: 'berth registry login HOST[:PORT] -u USER --password-stdin | berth registry logout HOST[:PORT] | berth registry ls [-o table|json|yaml]',
  description:
    'login: stores USER and the password read from standard input for HOST[:PORT], encrypted as a\n' +
    '  secret. Agents use them to pull images named HOST[:PORT]/...; only the nodes pulling from\n' +
    '  that host receive them. A pull the registry refuses for authentication leaves the task\n' +
    '  rejected, naming the registry.\n' +
    'logout: forgets them.\n' +
    'ls: HOST, USER, UPDATED; never a password.',
  examples: ['printf %s "$TOKEN" | berth registry login registry.example.com -u deploy --password-stdin', 'berth registry ls', 'berth registry logout registry.example.com'],
  options: {
    username: { type: 'string', short: 'u', valueName: 'USER', description: 'login: the user name' },
    'password-stdin': { type: 'boolean', description: 'login: read the password from standard input (required)' },
    output: { type: 'string', short: 'o', valueName: 'FORMAT', description: 'ls: table, json or yaml (default table)' },
  },
  async run(ctx, args) {
    const [action, ...hosts] = args.positionals;
    if (!action) throw new UsageError(`registry needs an action: ${ACTIONS.join(', ')}`, 'registry');
    if (action === 'ls' || action === 'list') {
      if (hosts.length) throw new UsageError('registry ls takes no HOST', 'registry');
      return list(ctx, args);
    }
    if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`unknown registry action "${action}": use one of ${ACTIONS.join(', ')}`, 'registry');
    if (hosts.length !== 1) throw new UsageError(`registry ${action} takes one HOST[:PORT]`, 'registry');
    const host = hosts[0]!.toLowerCase().replace(/^https?:\/\//, '').replace(/\/+$/, '');
    const client = ctx.client();
    if (action === 'logout') {
      await client.request('DELETE', `/v1/registries/${encodeURIComponent(host)}`);
      ctx.out(`registry/${host}: credentials removed`);
      return 0;
    }
    const username = stringOpt(args.values, 'username');
    if (!username) throw new UsageError('registry login needs -u USER', 'registry');
    if (!boolOpt(args.values, 'password-stdin')) throw new UsageError('registry login reads the password from standard input only: add --password-stdin', 'registry');
    const password = await readPassword();
    if (!password) throw new UsageError('registry login: the password read from standard input is empty', 'registry');
    const r = await client.request<RegistryInfo>('PUT', `/v1/registries/${encodeURIComponent(host)}`, { username, password: Buffer.from(password).toString('base64') });
    ctx.out(`registry/${r.host}: credentials of ${r.username} stored`);
    return 0;
  },
};
