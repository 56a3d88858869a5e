// The verbs shared by `berth secret` and `berth config` (the cluster's configs, not the client
// config file): create|update NAME -f FILE|-, ls, rm NAME, and for configs inspect NAME. A value
// is read from a file or standard input; a secret's is never shown (the API never returns it).
import { readFile } from 'node:fs/promises';
import type { SecretInfo } from '../../common/types.js';
import { stringOpt, UsageError, type CommandContext, type ParsedArgs } from '../command.js';
import { formatAge } from '../output/age.js';
import { parseOutputFormat, renderMachine } from '../output/format.js';
import { renderTable } from '../output/table.js';

export type FileKind = 'secret' | 'config';
export const FILE_ACTIONS: Record<FileKind, readonly string[]> = {
  secret: ['create', 'update', 'ls', 'rm'],
  config: ['create', 'update', 'ls', 'inspect', 'rm'],
};

async function readValue(args: ParsedArgs, kind: FileKind, action: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<Buffer> {
  const file = stringOpt(args.values, 'file');
  if (!file) throw new UsageError(`${kind} ${action} needs -f FILE (or -f - for standard input)`, kind);
  if (file !== '-') {
    try {
      return await readFile(file);
    } catch (err) {
      throw new UsageError(`-f ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, kind);
    }
  }
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks);
}

async function list(ctx: CommandContext, args: ParsedArgs, kind: FileKind): Promise<number> {
  const format = parseOutputFormat(stringOpt(args.values, 'output'));
  if (!format || format === 'wide') throw new UsageError(`${kind} ls prints a table, json or yaml (got "${stringOpt(args.values, 'output')}")`, kind);
  const { items } = await ctx.client().request<{ items: SecretInfo[] }>('GET', `/v1/${kind}s`);
  if (format === 'json' || format === 'yaml') {
    ctx.out(renderMachine({ items }, format));
    return 0;
  }
  const now = ctx.now();
  ctx.out(renderTable(['NAME', 'SIZE', 'CREATED', 'UPDATED'], items.map((s) => [s.name, `${s.size}B`, `${formatAge(s.createdAt, now)} ago`, `${formatAge(s.updatedAt, now)} ago`])));
  return 0;
}

/** A config with its value: the value as it is (text), or json/yaml with the value base64. */
async function inspect(ctx: CommandContext, args: ParsedArgs, name: string): Promise<number> {
  const c = await ctx.client().request<SecretInfo & { value: string }>('GET', `/v1/configs/${encodeURIComponent(name)}`);
  const fmt = stringOpt(args.values, 'output');
  if (fmt === 'json' || fmt === 'yaml') {
    ctx.out(renderMachine(c, fmt));
    return 0;
  }
  if (fmt !== undefined && fmt !== 'raw') throw new UsageError(`config inspect prints the value (default), json or yaml (got "${fmt}")`, 'config');
  ctx.out(Buffer.from(c.value, 'base64').toString('utf8').replace(/\n$/, ''));
  return 0;
}

/** Runs `berth KIND ACTION [NAME]`. */
export async function runFileAction(ctx: CommandContext, args: ParsedArgs, kind: FileKind, action: string, names: readonly string[]): Promise<number> {
  const actions = FILE_ACTIONS[kind];
  if (action === 'ls' || action === 'list') {
    if (names.length) throw new UsageError(`${kind} ls takes no NAME`, kind);
    return list(ctx, args, kind);
  }
  if (!actions.includes(action)) throw new UsageError(`unknown ${kind} action "${action}": use one of ${actions.join(', ')}`, kind);
  if (names.length !== 1) throw new UsageError(`${kind} ${action} takes one ${kind} NAME`, kind);
  const name = names[0]!;
  const client = ctx.client();
  const path = `/v1/${kind}s/${encodeURIComponent(name)}`;
  if (action === 'inspect') return inspect(ctx, args, name);
  if (action === 'rm') {
    await client.request('DELETE', path);
    ctx.out(`${kind}/${name} removed`);
    return 0;
  }
  const value = (await readValue(args, kind, action)).toString('base64');
  if (action === 'create') {
    const s = await client.request<SecretInfo>('POST', `/v1/${kind}s`, { name, value });
    ctx.out(`${kind}/${s.name} created (${s.size} bytes)`);
    return 0;
  }
  const res = await client.request<Record<FileKind, SecretInfo> & { rolled: string[] }>('PUT', path, { value });
  ctx.out(`${kind}/${res[kind].name} updated (${res[kind].size} bytes)${res.rolled.length ? `; rolling ${res.rolled.map((s) => `service/${s}`).join(', ')}` : ''}`);
  return 0;
}
