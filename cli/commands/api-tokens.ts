// The actions of `berth token` on API tokens with roles: create (the token alone on stdout, so
// scripts can capture it), list, revoke. The server's side is control-plane/auth/api-tokens.ts.
import { isRole, ROLES, type ApiTokenInfo, type CreatedApiToken } from '../../common/access.js';
import { stringOpt, UsageError, type CommandContext, type ParsedArgs } from '../command.js';
import { formatAge, formatDuration } from '../output/age.js';
import { parseOutputFormat, renderMachine } from '../output/format.js';
import { renderTable } from '../output/table.js';
import type { TableView } from '../output/views.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };

/** `--ttl 90s | 30m | 12h | 7d | 2w | 1h30m` -> seconds. */
export function parseTtl(text: string): number {
  const t = text.trim();
  if (!/^(\d+[smhdw])+$/.test(t)) throw new UsageError(`--ttl takes a duration like 30m, 12h, 7d or 1h30m; not "${text}"`, 'token');
  let seconds = 0;
  for (const m of t.matchAll(/(\d+)([smhdw])/g)) seconds += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
  if (seconds < 1) throw new UsageError('--ttl must be at least 1s', 'token');
  return seconds;
}

export async function createToken(ctx: CommandContext, args: ParsedArgs, name: string): Promise<number> {
  const role = stringOpt(args.values, 'role');
  if (!role) throw new UsageError(`token create needs --role ${ROLES.join('|')}`, 'token');
  if (!isRole(role)) throw new UsageError(`unknown role "${role}": use one of ${ROLES.join(', ')}`, 'token');
  const ttl = stringOpt(args.values, 'ttl');
  const body = { name, role, ...(ttl !== undefined ? { ttlSeconds: parseTtl(ttl) } : {}) };
  const created = await ctx.client().request<CreatedApiToken>('POST', '/v1/tokens', body);
  ctx.out(created.token);
  ctx.err(`token/${created.name} created (role ${created.role}, ${created.expiresAt ? `expires ${created.expiresAt}` : 'never expires'}); it is not shown again`);
  return 0;
}

export async function listTokens(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const format = parseOutputFormat(stringOpt(args.values, 'output'));
  if (!format || format === 'wide') throw new UsageError(`token list prints a table, json or yaml (got "${stringOpt(args.values, 'output')}")`, 'token');
  const { items } = await ctx.client().request<{ items: ApiTokenInfo[] }>('GET', '/v1/tokens');
  if (format === 'json' || format === 'yaml') {
    ctx.out(renderMachine({ items }, format));
    return 0;
  }
  const view = tokensView(items, ctx.now());
  ctx.out(renderTable(view.headers, view.rows));
  return 0;
}

export async function revokeToken(ctx: CommandContext, name: string): Promise<number> {
  await ctx.client().request('DELETE', `/v1/tokens/${encodeURIComponent(name)}`);
  ctx.out(`token/${name} revoked`);
  return 0;
}

export function tokensView(items: readonly ApiTokenInfo[], nowMs: number): TableView {
  return {
    headers: ['NAME', 'ROLE', 'CREATED', 'EXPIRES', 'LAST USED'],
    rows: items.map((t) => [
      t.builtin ? `${t.name} (built-in)` : t.name,
      t.role,
      t.createdAt ? `${formatAge(t.createdAt, nowMs)} ago` : '<unknown>',
      expiresCell(t.expiresAt, nowMs),
      t.lastUsedAt ? `${formatAge(t.lastUsedAt, nowMs)} ago` : 'never',
    ]),
  };
}

function expiresCell(expiresAt: string | undefined, nowMs: number): string {
  if (!expiresAt) return 'never';
  const at = Date.parse(expiresAt);
  if (at <= nowMs) return `expired ${formatAge(expiresAt, nowMs)} ago`;
  return `in ${formatDuration(at - nowMs)}`;
}

/** `berth token rotate join|manager`: prints the new token alone on standard output. */
export async function rotateJoinToken(ctx: CommandContext, args: string[]): Promise<number> {
  const [kind, ...rest] = args;
  if (kind !== 'join' && kind !== 'manager') throw new UsageError(kind ? `cannot rotate "${kind}" tokens: only join or manager` : 'token rotate needs a token kind: join or manager', 'token');
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`, 'token');
  const res = await ctx.client().request<{ token: string }>('POST', `/v1/tokens/${kind}/rotate`);
  ctx.out(res.token);
  ctx.err(kind === 'join' ? 'join token rotated: the previous one no longer works; joined nodes are not affected' : 'manager token rotated: the previous one no longer lets servers join; joined servers are not affected');
  return 0;
}
