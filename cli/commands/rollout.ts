// `berth rollout status|history|undo|pause|resume|restart service NAME`: follow and steer the
// rolling update of a service (see docs/cli.md). status exits 0 once the rollout is complete,
// 1 when it is paused, failed or rolled back, or when --timeout passes.
import type { Revision } from '../../common/rollout.js';
import type { ServiceView } from '../api-client.js';
import { CliError, stringOpt, UsageError, type ClientCommand, type CommandContext } from '../command.js';
import { formatAge } from '../output/age.js';
import { renderTable } from '../output/table.js';
import { Kind, parseKindAndNames } from '../resources.js';
import { parseTimeout, RolloutOutcome, waitForRollout } from '../rollout-wait.js';

const SUBCOMMANDS = ['status', 'history', 'undo', 'pause', 'resume', 'restart'] as const;
type Sub = (typeof SUBCOMMANDS)[number];

export const rolloutCommand: ClientCommand = {
  name: 'rollout',
  summary: 'Follow, undo, pause, resume or restart the rolling update of a service',
  usage: 'berth rollout status|history|undo|pause|resume|restart service NAME [flags]',
  description:
    'status: prints progress (updated N/M, available N/M) until the rollout is complete (exit 0),\n' +
    'or paused, failed or rolled back (exit 1); --timeout D gives up after D (exit 1).\n' +
    'history: the revisions kept, oldest first, with their change cause and what changed.\n' +
    'undo: back to the previous revision, or --to-revision N (as a new revision).\n' +
    'pause / resume: stop and continue replacing tasks. restart: replace every task.',
  examples: [
    'berth rollout status service web --timeout 5m',
    'berth rollout history service web',
    'berth rollout undo service web --to-revision 2',
    'berth rollout restart service web',
  ],
  options: {
    timeout: { type: 'string', valueName: 'D', description: 'status: give up after this long (90s, 5m); default: wait' },
    'to-revision': { type: 'string', valueName: 'N', description: 'undo: the revision to return to (default: the previous one)' },
  },
  async run(ctx, args) {
    const [sub, ...rest] = args.positionals;
    if (!sub || !SUBCOMMANDS.includes(sub as Sub)) {
      throw new UsageError(`rollout needs one of ${SUBCOMMANDS.join(', ')}${sub ? `, not "${sub}"` : ''}`, 'rollout');
    }
    const { names } = parseKindAndNames(rest, 'rollout', [Kind.Service]);
    if (names.length !== 1) throw new UsageError(`rollout ${sub} takes one service NAME`, 'rollout');
    const name = names[0]!;
    const path = `/v1/services/${encodeURIComponent(name)}`;
    const client = ctx.client();
    switch (sub as Sub) {
      case 'status':
        return status(ctx, name, parseTimeout(stringOpt(args.values, 'timeout'), 'rollout'));
      case 'history':
        return history(ctx, name);
      case 'undo': {
        const to = stringOpt(args.values, 'to-revision');
        if (to !== undefined && !/^[1-9]\d*$/.test(to)) throw new UsageError(`--to-revision must be a revision number, not "${to}"`, 'rollout');
        const svc = await client.request<ServiceView>('POST', `${path}/rollout/undo`, to !== undefined ? { toRevision: Number(to) } : {});
        ctx.out(`service/${name} rolled back: ${svc.status?.update?.message ?? `revision ${svc.metadata.revision}`}`);
        return 0;
      }
      case 'pause':
        await client.request('POST', `${path}/rollout/pause`, {});
        ctx.out(`service/${name} rollout paused`);
        return 0;
      case 'resume':
        await client.request('POST', `${path}/rollout/resume`, {});
        ctx.out(`service/${name} rollout resumed`);
        return 0;
      case 'restart': {
        const svc = await client.request<ServiceView>('POST', `${path}/rollout/restart`, {});
        ctx.out(`service/${name} restarting (revision ${svc.metadata.revision})`);
        return 0;
      }
    }
  },
};

async function status(ctx: CommandContext, name: string, timeoutMs: number | undefined): Promise<number> {
  const { outcome, service } = await waitForRollout(ctx.client(), name, { timeoutMs, out: (l) => ctx.out(l) });
  const u = service.status?.update;
  if (outcome === RolloutOutcome.Complete) {
    ctx.out(`service/${name} successfully rolled out${u ? ` (revision ${u.revision})` : ''}`);
    return 0;
  }
  if (outcome === RolloutOutcome.TimedOut) throw new CliError(`service/${name}: timed out waiting for the rollout${u ? ` (${u.state}: ${u.message})` : ''}`);
  throw new CliError(`service/${name} rollout ${u?.state ?? 'failed'}: ${u?.message ?? ''}`);
}

async function history(ctx: CommandContext, name: string): Promise<number> {
  const res = await ctx.client().request<{ items: Revision[]; current: number }>('GET', `/v1/services/${encodeURIComponent(name)}/revisions`);
  const now = ctx.now();
  const rows = res.items.map((r) => [
    r.number === res.current ? `${r.number} (current)` : String(r.number),
    r.changeCause,
    formatAge(r.createdAt, now),
    r.summary,
  ]);
  ctx.out(renderTable(['REVISION', 'CHANGE-CAUSE', 'CREATED', 'CHANGES'], rows));
  return 0;
}
