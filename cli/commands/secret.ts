// `berth secret create|update NAME -f FILE|-`, `berth secret ls`, `berth secret rm NAME`. A value
// is read from a file or standard input and sent once; nothing prints it (the API never returns it).
import { readFile } from 'node:fs/promises';
import type { SecretInfo } from '../../common/types.js';
import { stringOpt, UsageError, type ClientCommand, type CommandContext, type ParsedArgs } from '../command.js';
import { formatAge } from '../output/age.js';
import { parseOutputFormat, renderMachine } from '../output/format.js';
import { renderTable } from '../output/table.js';

const ACTIONS = ['create', 'update', 'ls', 'rm'] as const;

async function readValue(args: ParsedArgs, action: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<Buffer> {
  const file = stringOpt(args.values, 'file');
  if (!file) throw new UsageError(`secret ${action} needs -f FILE (or -f - for standard input)`, 'secret');
  if (file !== '-') {
    try {
      return await readFile(file);
    } catch (err) {
      throw new UsageError(`-f ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 'secret');
    }
  }
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks);
}

async function list(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const format = parseOutputFormat(stringOpt(args.values, 'output'));
  if (!format || format === 'wide') throw new UsageError(`secret ls prints a table, json or yaml (got "${stringOpt(args.values, 'output')}")`, 'secret');
  const { items } = await ctx.client().request<{ items: SecretInfo[] }>('GET', '/v1/secrets');
  if (format === 'json' || format === 'yaml') {
    ctx.out(renderMachine({ items }, format));
    return 0;
  }
  const now = ctx.now();
  ctx.out(renderTable(['NAME', 'SIZE', 'CREATED', 'UPDATED'], items.map((s) => [s.name, `${s.size}B`, `${formatAge(s.createdAt, now)} ago`, `${formatAge(s.updatedAt, now)} ago`])));
  return 0;
}

export const secretCommand: ClientCommand = {
  name: 'secret',
  summary: 'Create, list, update or remove secrets (values encrypted at rest, never shown)',
  usage: 'berth secret create NAME -f FILE|- | berth secret update NAME -f FILE|- | berth secret ls [-o table|json|yaml] | berth secret rm NAME',
  description:
    'create: stores the value of FILE (or of standard input with -f -), encrypted (AES-256-GCM)\n' +
    '  with the server\'s key. A service reads it with spec.secrets: [{source: NAME}] as the file\n' +
    '  /run/secrets/NAME (mode 0400), on the nodes running its tasks only.\n' +
    'update: replaces the value, and rolls every service using it under its update policy: new\n' +
    '  tasks read the new value.\n' +
    'ls: NAME, SIZE, CREATED, UPDATED; never a value.\n' +
    'rm: refused while a service uses the secret.',
  examples: ['berth secret create db-password -f ./password.txt', 'printf %s "$TOKEN" | berth secret create api-token -f -', 'berth secret update db-password -f ./new.txt', 'berth secret ls', 'berth secret rm api-token'],
  options: {
    file: { type: 'string', short: 'f', valueName: 'FILE', description: 'create/update: read the value from FILE, or - for standard input' },
    output: { type: 'string', short: 'o', valueName: 'FORMAT', description: 'ls: table, json or yaml (default table)' },
  },
  async run(ctx, args) {
    const [action, ...names] = args.positionals;
    if (!action) throw new UsageError(`secret needs an action: ${ACTIONS.join(', ')}`, 'secret');
    if (action === 'ls' || action === 'list') {
      if (names.length) throw new UsageError('secret ls takes no NAME', 'secret');
      return list(ctx, args);
    }
    if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`unknown secret action "${action}": use one of ${ACTIONS.join(', ')}`, 'secret');
    if (names.length !== 1) throw new UsageError(`secret ${action} takes one secret NAME`, 'secret');
    const name = names[0]!;
    const client = ctx.client();
    if (action === 'rm') {
      await client.request('DELETE', `/v1/secrets/${encodeURIComponent(name)}`);
      ctx.out(`secret/${name} removed`);
      return 0;
    }
    const value = (await readValue(args, action)).toString('base64');
    if (action === 'create') {
      const s = await client.request<SecretInfo>('POST', '/v1/secrets', { name, value });
      ctx.out(`secret/${s.name} created (${s.size} bytes)`);
      return 0;
    }
    const res = await client.request<{ secret: SecretInfo; rolled: string[] }>('PUT', `/v1/secrets/${encodeURIComponent(name)}`, { value });
    ctx.out(`secret/${res.secret.name} updated (${res.secret.size} bytes)${res.rolled.length ? `; rolling ${res.rolled.map((s) => `service/${s}`).join(', ')}` : ''}`);
    return 0;
  },
};
