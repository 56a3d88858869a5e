// `berth stack convert|deploy|ls|services|ps|rm`: compose files as Berth services. convert
// prints the manifests, the objects to create and the report of keys not honoured; deploy
// applies the services in one all-or-nothing apply; the others find a stack's services by their
// `berth.stack` label. See docs/stacks.md.
import { stringify } from 'yaml';
import { boolOpt, CliError, stringsOpt, UsageError, type ClientCommand, type CommandContext } from '../command.js';
import { convertProject, formatReport, type Conversion } from '../stack/compose-convert.js';
import { loadCompose } from '../stack/compose-load.js';
import { planStackObjects } from '../stack/stack-objects.js';
import { deployable, deployStack, removeStack, servicesTable, stacksTable, stackServices, tasksTable } from '../stack/stack-ops.js';

const SUBCOMMANDS = ['convert', 'deploy', 'ls', 'services', 'ps', 'rm'] as const;
type Sub = (typeof SUBCOMMANDS)[number];

export const stackCommand: ClientCommand = {
  name: 'stack',
  summary: 'Convert and deploy compose files as stacks of services; list, inspect and remove stacks',
  usage: 'berth stack convert|deploy -c FILE [-c OVERRIDE ...] [--strict] [--prune] NAME | berth stack ls | berth stack services|ps NAME | berth stack rm [--volumes] NAME',
  description:
    'convert: reads the compose file(s) as the Compose Specification does (anchors, <<, x- fields,\n' +
    '${VAR} interpolation from the environment and a .env beside the first file; several -c merged\n' +
    'in order) and prints the Berth Service manifests NAME-<service>, then the networks, volumes,\n' +
    'secrets and configs the stack needs. Keys not honoured are listed on stderr first, once per\n' +
    'key (ignored:, unsupported:, warning:); --strict makes any ignored or unsupported key an error.\n' +
    'deploy: converts, checks that external secrets and volumes exist and that every secret file\n' +
    'can be read, creates the stack\'s secrets, then applies every service in one request (all or\n' +
    'nothing: a failed apply removes the secrets it created). Named volumes are created on the node\n' +
    'of the first task that mounts them. Services of the stack no longer in the files are reported,\n' +
    'or deleted with --prune.\n' +
    'ls: the stacks (services labelled berth.stack). services, ps: a stack\'s services, its tasks.\n' +
    'rm: deletes the stack\'s services and the secrets it created (not external ones); with\n' +
    '--volumes, also the named volumes its services created.',
  examples: [
    'berth stack convert -c compose.yaml shop',
    'berth stack convert -c compose.yaml -c prod.yaml --strict shop > shop.yaml',
    'berth stack deploy -c compose.yaml shop',
    'berth stack ls',
    'berth stack ps shop',
    'berth stack rm shop',
    'berth stack rm --volumes shop',
  ],
  options: {
    'compose-file': { type: 'string', short: 'c', multiple: true, valueName: 'FILE', description: 'convert, deploy: a compose file; several are merged in order' },
    strict: { type: 'boolean', description: 'convert, deploy: fail if any key is ignored or unsupported' },
    prune: { type: 'boolean', description: 'deploy: delete the stack\'s services that are no longer in the files' },
    volumes: { type: 'boolean', description: 'rm: also remove the named volumes the stack\'s services created' },
  },
  async run(ctx, args) {
    const [sub, ...rest] = args.positionals;
    if (!sub || !SUBCOMMANDS.includes(sub as Sub)) {
      throw new UsageError(`stack needs one of ${SUBCOMMANDS.join(', ')}${sub ? `, not "${sub}"` : ''}`, 'stack');
    }
    if (sub === 'ls') {
      if (rest.length) throw new UsageError('stack ls takes no argument', 'stack');
      ctx.out(await stacksTable(ctx.client(), ctx.now()));
      return 0;
    }
    if (rest.length !== 1) throw new UsageError(`stack ${sub} takes one stack NAME`, 'stack');
    const stack = rest[0]!;
    if (sub === 'convert' || sub === 'deploy') {
      const files = stringsOpt(args.values, 'compose-file');
      if (!files.length) throw new UsageError('missing -c FILE', 'stack');
      const conversion = convertFiles(files, stack, boolOpt(args.values, 'strict'), ctx, sub === 'convert');
      if (sub === 'convert') {
        ctx.out(renderConversion(conversion));
        return 0;
      }
      const services = deployable(conversion, (l) => ctx.err(l));
      const objects = await planStackObjects(ctx.client(), stack, conversion, { env: process.env });
      await deployStack(ctx.client(), stack, services, { prune: boolOpt(args.values, 'prune'), out: (l) => ctx.out(l), objects });
      return 0;
    }
    if (sub === 'rm') {
      await removeStack(ctx.client(), stack, (l) => ctx.out(l), { volumes: boolOpt(args.values, 'volumes') });
      return 0;
    }
    const svcs = await stackServices(ctx.client(), stack);
    if (!svcs.length) throw new CliError(`stack "${stack}" not found`);
    ctx.out(sub === 'services' ? servicesTable(svcs, ctx.now()) : await tasksTable(ctx.client(), svcs, ctx.now()));
    return 0;
  },
};

/** Loads, converts and prints the report on stderr; throws under --strict when there is one. */
export function convertFiles(files: string[], stack: string, strict: boolean, ctx: Pick<CommandContext, 'err'>, lenient = true): Conversion {
  const project = loadCompose(files, { env: process.env });
  const conversion = convertProject(project, stack, { env: process.env, missingEnvFile: lenient ? 'report' : 'error' });
  for (const r of conversion.reports) ctx.err(formatReport(r));
  const blocking = conversion.reports.filter((r) => r.kind !== 'warning');
  if (strict && blocking.length) throw new CliError(`--strict: ${blocking.length} key(s) not honoured (listed above)`);
  return conversion;
}

/** The services as manifests, then the objects, as YAML documents separated by `---`. */
export function renderConversion(c: Conversion): string {
  const docs = c.services.map((s) => stringify(s, { lineWidth: 0 }).trimEnd());
  for (const o of c.objects) docs.push(`# ${o.external ? 'must exist' : 'to create'}\n${stringify(o, { lineWidth: 0 }).trimEnd()}`);
  return docs.join('\n---\n');
}
