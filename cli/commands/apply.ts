// `berth apply -f`: validate every manifest locally, then send them all in one all-or-nothing
// request, so a typo in one file never leaves the cluster half-updated.
import { readManifests, type ManifestDoc } from '../../common/manifest/load.js';
import { ApiError } from '../api-client.js';
import { CliError, stringOpt, stringsOpt, UsageError, type ClientCommand } from '../command.js';
import { parseTimeout, RolloutOutcome, waitForRollout } from '../rollout-wait.js';

export const DryRun = { None: 'none', Server: 'server', Client: 'client' } as const;
export type DryRun = (typeof DryRun)[keyof typeof DryRun];

export function parseDryRun(text: string | undefined): DryRun {
  if (text === undefined) return DryRun.None;
  const mode = Object.values(DryRun).find((m) => m === text);
  if (!mode) throw new UsageError(`--dry-run must be server, client or none, not "${text}"`, 'apply');
  return mode;
}

export const applyCommand: ClientCommand = {
  name: 'apply',
  summary: 'Create or update services from manifest files',
  usage: 'berth apply -f FILE|DIR|- [-f ...] [--dry-run=server|client] [--wait [--timeout D]]',
  description:
    'Reads every document of every file (a directory: its *.yaml, *.yml and *.json files, sorted;\n' +
    '"-": standard input). All documents are checked before anything is sent, and the server applies\n' +
    'them all or none. Prints one line per object: service/NAME created|configured|unchanged.\n' +
    '--dry-run=server: the server validates and plans the apply but writes nothing;\n' +
    '--dry-run=client: the manifests are only checked locally, the server is not contacted.\n' +
    '--wait: then follow each service\'s rollout: exit 0 once all are complete, 1 if one is paused,\n' +
    'failed or rolled back, or --timeout D passes. A job is followed until its run is complete (0) or failed (1).',
  examples: [
    'berth apply -f web.yaml',
    'berth apply -f services/ -f extra.yaml',
    'cat web.yaml | berth apply -f -',
    'berth apply -f web.yaml --dry-run=server',
  ],
  options: {
    filename: { type: 'string', short: 'f', multiple: true, valueName: 'PATH', description: 'manifest file, directory or - for stdin (repeatable)' },
    'dry-run': { type: 'string', valueName: 'MODE', description: 'server: validated and planned by the server, nothing written; client: local checks only; none (default)' },
    wait: { type: 'boolean', description: 'wait until the rollouts are complete (exit 0) or failed (exit 1)' },
    timeout: { type: 'string', valueName: 'D', description: 'with --wait: give up after this long (90s, 5m)' },
  },
  async run(ctx, args) {
    const files = stringsOpt(args.values, 'filename');
    if (!files.length) throw new UsageError('apply needs at least one -f FILE', 'apply');
    if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}": use -f FILE`, 'apply');
    const dryRun = parseDryRun(stringOpt(args.values, 'dry-run'));
    const docs = await readManifests(files);
    if (!docs.length) throw new CliError(`no manifests found in ${files.join(', ')}`);
    if (dryRun === DryRun.Client) {
      for (const d of docs) ctx.out(`service/${d.object.metadata.name} valid (client dry run)`);
      return 0;
    }
    const client = ctx.client();
    let result;
    try {
      result = await client.apply(
        docs.map((d) => d.object),
        { dryRun: dryRun === DryRun.Server },
      );
    } catch (err) {
      throw withSources(err, docs);
    }
    const suffix = dryRun === DryRun.Server ? ' (server dry run)' : '';
    for (const r of result.items) ctx.out(`${r.kind.toLowerCase()}/${r.name} ${r.action}${suffix}`);
    if (args.values.wait !== true || dryRun !== DryRun.None) return 0;
    const timeoutMs = parseTimeout(stringOpt(args.values, 'timeout'), 'apply');
    const started = Date.now();
    for (const r of result.items) {
      const left = timeoutMs !== undefined ? Math.max(0, timeoutMs - (Date.now() - started)) : undefined;
      const { outcome, service } = await waitForRollout(client, r.name, { timeoutMs: left, out: (l) => ctx.out(l), prefix: `service/${r.name}: ` });
      const u = service.status?.update;
      if (outcome === RolloutOutcome.TimedOut) throw new CliError(`service/${r.name}: timed out waiting for the rollout${u ? ` (${u.state}: ${u.message})` : ''}`);
      if (outcome === RolloutOutcome.Failed) throw new CliError(`service/${r.name} rollout ${u?.state ?? 'failed'}: ${u?.message ?? ''}`);
      ctx.out(`service/${r.name} rolled out`);
    }
    return 0;
  },
};

/** The server numbers the items it rejects; name them by file and document instead. */
export function withSources(err: unknown, docs: readonly ManifestDoc[]): unknown {
  if (!(err instanceof ApiError) || !err.issues.length) return err;
  const lines = err.issues.map((i) => {
    const source = i.index !== undefined ? (docs[i.index]?.source ?? `item ${i.index}`) : '';
    return [source, i.path ? `${i.path}:` : '', i.reason].filter(Boolean).join(' ');
  });
  return new CliError(lines.join('\n'));
}
