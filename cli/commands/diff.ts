// `berth diff -f FILE`: what `apply -f FILE` would change, field by field, against what the
// server stores now. Exit 0 no change, 1 changes, 2 (or a specific code > 1) on error.
import { readManifests } from '../../common/manifest/load.js';
import type { Service } from '../../common/types.js';
import { ApiError } from '../api-client.js';
import { CliError, stringsOpt, UsageError, type ClientCommand, type CommandContext, type ParsedArgs } from '../command.js';
import { diffService, DiffAction, formatServiceDiff } from '../diff.js';
import { DiffExit, diffExitCode } from '../exit-codes.js';
import { errorLines } from '../error-lines.js';

export const diffCommand: ClientCommand = {
  name: 'diff',
  summary: 'Show what apply -f would change, field by field',
  usage: 'berth diff -f FILE|DIR|- [-f ...]',
  description:
    'Compares each service in the manifests with the one the server stores (labels and spec, what\n' +
    'apply compares). Prints nothing for an unchanged service, else "service/NAME changed" (or\n' +
    'created) and one line per field: "spec.replicas: 3 -> 6", "+ spec.env.FOO: \\"bar\\"" (added),\n' +
    '"- spec.env.OLD: \\"x\\"" (removed). Exit codes: 0 no changes, 1 changes, 2 error (or the\n' +
    'specific codes 3 unreachable, 4 unauthorized).',
  examples: ['berth diff -f web.yaml', 'berth diff -f services/ && echo "up to date"'],
  options: {
    filename: { type: 'string', short: 'f', multiple: true, valueName: 'PATH', description: 'manifest file, directory or - for stdin (repeatable)' },
  },
  async run(ctx, args) {
    try {
      return await runDiff(ctx, args);
    } catch (err) {
      // 1 means "changes" here, so errors are reported here with their own codes (> 1).
      for (const l of errorLines(err)) ctx.err(`error: ${l}`);
      if (err instanceof UsageError) ctx.err(err.hint);
      return diffExitCode(err);
    }
  },
};

async function runDiff(ctx: CommandContext, args: ParsedArgs): Promise<number> {
  const files = stringsOpt(args.values, 'filename');
  if (!files.length) throw new UsageError('diff needs at least one -f FILE', 'diff');
  if (args.positionals.length) throw new UsageError(`unexpected argument "${args.positionals[0]}": use -f FILE`, 'diff');
  const docs = await readManifests(files);
  if (!docs.length) throw new CliError(`no manifests found in ${files.join(', ')}`);
  const client = ctx.client();
  let changed = false;
  for (const doc of docs) {
    const current = await currentService(client.getService.bind(client), doc.object.metadata.name);
    const d = diffService(current, doc.object);
    if (d.action !== DiffAction.Unchanged) changed = true;
    for (const line of formatServiceDiff(d)) ctx.out(line);
  }
  return changed ? DiffExit.Changes : DiffExit.NoChanges;
}

/** The stored service, or undefined when there is none yet (a 404 is an answer here). */
async function currentService(get: (name: string) => Promise<Service>, name: string): Promise<Service | undefined> {
  try {
    return await get(name);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}
