// `berth get servers [NAME]` and `berth describe server NAME`: the control-plane servers sharing
// one etcd, which one leads, where each serves, whether its etcd answers (GET /v1/servers;
// docs/ha.md).
import { boolOpt, stringOpt, UsageError, type CommandContext, type ParsedArgs } from '../command.js';
import type { ApiClient } from '../api-client.js';
import { formatAge } from '../output/age.js';
import { eventsView } from '../output/events.js';
import { renderMachine, type OutputFormat } from '../output/format.js';
import { renderTable } from '../output/table.js';

export const SERVER_KIND_NAMES: readonly string[] = ['servers', 'server'];

export interface ServerView {
  name: string;
  apiUrl: string;
  agentAddress: string;
  serverVersion: string;
  startedAt: string;
  leader: boolean;
  leaderSince?: string;
  /** Whether the server's etcd answers (absent from servers of older versions). */
  etcd?: 'healthy' | 'unhealthy';
  etcdProblems?: string[];
}

function listServers(client: ApiClient): Promise<ServerView[]> {
  return client.request<{ items: ServerView[] }>('GET', '/v1/servers').then((r) => r.items);
}

export async function getServers(ctx: CommandContext, args: ParsedArgs, format: OutputFormat): Promise<number> {
  const output = stringOpt(args.values, 'output');
  if (boolOpt(args.values, 'watch') || stringOpt(args.values, 'selector') !== undefined || (output !== undefined && !['table', 'wide', 'json', 'yaml'].includes(output))) {
    throw new UsageError('get servers prints a table, or -o json|yaml (no -w, -l or script output)', 'get');
  }
  const names = args.positionals.slice(1);
  if (names.length > 1) throw new UsageError('get takes at most one NAME', 'get');
  const client = ctx.client();
  const name = names[0];
  const items = name ? [await client.request<ServerView>('GET', `/v1/servers/${encodeURIComponent(name)}`)] : await listServers(client);
  if (format === 'json' || format === 'yaml') {
    ctx.out(renderMachine(name ? items[0] : { items }, format));
    return 0;
  }
  if (!items.length) {
    ctx.err('No servers found.');
    return 0;
  }
  const rows = items.map((s) => [s.name, `${s.apiUrl} agents ${s.agentAddress}`, s.leader ? 'leader' : 'follower', s.etcd ?? 'unknown', s.serverVersion, formatAge(s.startedAt, ctx.now())]);
  ctx.out(renderTable(['NAME', 'ADDRESS', 'ROLE', 'ETCD', 'VERSION', 'AGE'], rows));
  return 0;
}

export async function describeServer(ctx: CommandContext, name: string): Promise<number> {
  const client = ctx.client();
  const s = await client.request<ServerView>('GET', `/v1/servers/${encodeURIComponent(name)}`);
  const events = await client.listEvents({ kind: 'server', name: s.name }).catch(() => []);
  const lines = [
    `Name:          ${s.name}`,
    `Role:          ${s.leader ? `leader (since ${s.leaderSince ?? 'unknown'})` : 'follower'}`,
    `API:           ${s.apiUrl}`,
    `Agents join:   ${s.agentAddress}`,
    `Etcd:          ${s.etcd ?? 'unknown (the server does not report it)'}`,
    ...(s.etcdProblems ?? []).map((p) => `  ${p}`),
    `Version:       ${s.serverVersion}`,
    `Started:       ${s.startedAt} (${formatAge(s.startedAt, ctx.now())} ago)`,
    'Events:',
  ];
  if (events.length) {
    const view = eventsView(events.slice(-10), ctx.now());
    lines.push(...renderTable(view.headers, view.rows).split('\n').map((l) => `  ${l}`));
  } else {
    lines.push('  <none>');
  }
  ctx.out(lines.join('\n'));
  return 0;
}
