// `berth delete service NAME...` and `berth delete -f FILE`: each name is deleted on its own,
// so one missing service is reported without stopping the others.
import { readManifests } from '../../common/manifest/load.js';
import { stringsOpt, UsageError, type ClientCommand } from '../command.js';
import { Kind, parseKindAndNames } from '../resources.js';

export const deleteCommand: ClientCommand = {
  name: 'delete',
  summary: 'Delete services by name or by manifest file',
  usage: 'berth delete service NAME [NAME...] | berth delete -f FILE|DIR|-',
  description:
    'Deleting a service shuts down and removes all its tasks. With -f, every service named in the\n' +
    'files is deleted; one that does not exist is reported and the others are still deleted.\n' +
    'Exits 1 if any deletion failed.',
  examples: ['berth delete service web', 'berth delete svc/web', 'berth delete -f web.yaml'],
  options: {
    filename: { type: 'string', short: 'f', multiple: true, valueName: 'PATH', description: 'delete the services named in these manifests' },
  },
  async run(ctx, args) {
    const files = stringsOpt(args.values, 'filename');
    let names: string[];
    if (files.length) {
      if (args.positionals.length) throw new UsageError('give either -f FILE or service NAME, not both', 'delete');
      names = (await readManifests(files)).map((d) => d.object.metadata.name);
    } else {
      names = parseKindAndNames(args.positionals, 'delete', [Kind.Service]).names;
      if (!names.length) throw new UsageError('delete needs a service NAME or -f FILE', 'delete');
    }
    const client = ctx.client();
    let failed = 0;
    for (const name of names) {
      try {
        await client.deleteService(name);
        ctx.out(`service/${name} deleted`);
      } catch (err) {
        failed++;
        ctx.err(`error: ${(err as Error).message}`);
      }
    }
    return failed ? 1 : 0;
  },
};
