// `berth secret create|update NAME -f FILE|-`, `berth secret ls`, `berth secret rm NAME`
// (file-objects.ts, shared with `berth config`). A value is read from a file or standard input
// and sent once; nothing prints it (the API never returns it).
import { UsageError, type ClientCommand } from '../command.js';
import { FILE_ACTIONS, runFileAction } from './file-objects.js';

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
    if (!action) throw new UsageError(`secret needs an action: ${FILE_ACTIONS.secret.join(', ')}`, 'secret');
    return runFileAction(ctx, args, 'secret', action, names);
  },
};
