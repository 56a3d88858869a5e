// `berth stack convert -c FILE [-c OVERRIDE ...] NAME`: reads compose files and prints the Berth
// manifests a stack would be, the networks, volumes, secrets and configs it would create, and
// (on stderr) every key it does not honour. See docs/stacks.md.
import { stringify } from 'yaml';
import { boolOpt, CliError, stringsOpt, UsageError, type ClientCommand, type CommandContext } from '../command.js';
import { convertProject, formatReport, type Conversion } from '../stack/compose-convert.js';
import { loadCompose } from '../stack/compose-load.js';

const SUBCOMMANDS = ['convert'] as const;

export const stackCommand: ClientCommand = {
  name: 'stack',
  summary: 'Convert compose files into Berth services',
  usage: 'berth stack convert -c FILE [-c OVERRIDE ...] [--strict] NAME',
  description:
    'convert: reads the compose file(s) as the Compose Specification does (anchors, <<, x- fields,\n' +
    '${VAR} interpolation from the environment and a .env beside the first file; several -c merged\n' +
    'in order) and prints the Berth Service manifests NAME-<service>, then the networks, volumes,\n' +
    'secrets and configs the stack needs. Keys not honoured are listed on stderr first, once per\n' +
    'key (ignored:, unsupported:, warning:); --strict makes any ignored or unsupported key an error.\n' +
    'Nothing is sent to the cluster.',
  examples: ['berth stack convert -c compose.yaml shop', 'berth stack convert -c compose.yaml -c prod.yaml --strict shop > shop.yaml'],
  options: {
    'compose-file': { type: 'string', short: 'c', multiple: true, valueName: 'FILE', description: 'a compose file; several are merged in order' },
    strict: { type: 'boolean', description: 'fail if any key is ignored or unsupported' },
  },
  run(ctx, args) {
    const [sub, ...rest] = args.positionals;
    if (!sub || !SUBCOMMANDS.includes(sub as (typeof SUBCOMMANDS)[number])) {
      throw new UsageError(`stack needs one of ${SUBCOMMANDS.join(', ')}${sub ? `, not "${sub}"` : ''}`, 'stack');
    }
    if (rest.length !== 1) throw new UsageError('stack convert takes one stack NAME', 'stack');
    const files = stringsOpt(args.values, 'compose-file');
    if (!files.length) throw new UsageError('missing -c FILE', 'stack');
    const conversion = convertFiles(files, rest[0]!, boolOpt(args.values, 'strict'), ctx);
    ctx.out(renderConversion(conversion));
    return Promise.resolve(0);
  },
};

/** Loads, converts and prints the report on stderr; throws under --strict when there is one. */
export function convertFiles(files: string[], stack: string, strict: boolean, ctx: Pick<CommandContext, 'err'>): Conversion {
  const project = loadCompose(files, { env: process.env });
  const conversion = convertProject(project, stack, { env: process.env, missingEnvFile: 'report' });
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
