// `berth delete service NAME...` and `berth delete -f FILE`: each name is deleted on its own,
// so one missing service is reported without stopping the others.
import { readManifests } from '../../common/manifest/load.js';
import { stringOpt, stringsOpt, UsageError, type ClientCommand } from '../command.js';
import { ExitCode, exitCodeFor } from '../exit-codes.js';
import { objectName } from '../output/script-output.js';
import { parseSelector } from '../selector.js';
import { listMatching } from './get-selected.js';
import { Kind, parseKindAndNames } from '../resources.js';
import { errorMessage } from '../../common/errors.js';

export const deleteCommand: ClientCommand = {
  name: 'delete',
  summary: 'Delete services by name or by manifest file',
  usage: 'berth delete service NAME [NAME...] | berth delete -f FILE|DIR|- | berth delete services -l SELECTOR',
  description:
    'Deleting a service shuts down and removes all its tasks. With -f, every service named in the\n' +
    'files is deleted; one that does not exist is reported and the others are still deleted.\n' +
    'With -l, every service whose labels match the selector is deleted. If a deletion fails, the exit\n' +
    'code is that of the first failure (5 not found, 3 server unreachable, ...: see docs/cli.md).',
  examples: ['berth delete service web', 'berth delete svc/web', 'berth delete -f web.yaml', 'berth delete services -l app=web'],
  options: {
    filename: { type: 'string', short: 'f', multiple: true, valueName: 'PATH', description: 'delete the services named in these manifests' },
    selector: { type: 'string', short: 'l', valueName: 'SELECTOR', description: 'delete every service whose labels match (k=v,k!=v,k in (a,b),k notin (a,b),k,!k)' },
  },
  async run(ctx, args) {
    const files = stringsOpt(args.values, 'filename');
    const selText = stringOpt(args.values, 'selector');
    let names: string[];
    if (selText !== undefined) {
      if (files.length) throw new UsageError('give either -f FILE or -l SELECTOR, not both', 'delete');
      const selector = parseSelector(selText);
      if (parseKindAndNames(args.positionals.length ? args.positionals : ['services'], 'delete', [Kind.Service]).names.length) {
        throw new UsageError('give either a service NAME or -l SELECTOR, not both', 'delete');
      }
      names = (await listMatching(ctx.client(), Kind.Service, undefined, selector)).map((s) => objectName(Kind.Service, s));
      if (!names.length) {
        ctx.err(`No services found matching "${selText}".`);
        return 0;
      }
    } else if (files.length) {
      if (args.positionals.length) throw new UsageError('give either -f FILE or service NAME, not both', 'delete');
      names = (await readManifests(files)).map((d) => d.object.metadata.name);
    } else {
      names = parseKindAndNames(args.positionals, 'delete', [Kind.Service]).names;
      if (!names.length) throw new UsageError('delete needs a service NAME or -f FILE', 'delete');
    }
    const client = ctx.client();
    // The exit code of the first failure (5 when a service was not found, 3 when the server is down...).
    let failed: number = ExitCode.Ok;
    for (const name of names) {
      try {
        await client.deleteService(name);
        ctx.out(`service/${name} deleted`);
      } catch (err) {
        if (failed === ExitCode.Ok) failed = exitCodeFor(err);
        ctx.err(`error: ${errorMessage(err)}`);
      }
    }
    return failed;
  },
};
