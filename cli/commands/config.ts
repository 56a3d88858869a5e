// `berth config ...`: manage the contexts of the client config file (the file in use:
// --config, $BERTH_CONFIG or ~/.berth/config), which never talks to a server; and the cluster's
// configs (files services mount: create|update|ls|inspect|rm, file-objects.ts).
import { readFileSync } from 'node:fs';
import { boolOpt, CliError, stringOpt, UsageError, type ClientCommand, type CommandContext, type ParsedArgs } from '../command.js';
import { parseConfigFile, type ConfigFile } from '../config.js';
import {
  contextNames,
  deleteContext,
  isFlatConfig,
  mergeConfig,
  readForEdit,
  redact,
  requireContext,
  serializeConfig,
  setContext,
  useContext,
  writeConfig,
} from '../contexts.js';
import { didYouMean } from '../did-you-mean.js';
import { renderTable } from '../output/table.js';
import { errorMessage } from '../../common/errors.js';
import { FILE_ACTIONS, runFileAction } from './file-objects.js';

export const CONFIG_SUBCOMMANDS = [
  'get-contexts',
  'current-context',
  'use-context',
  'set-context',
  'delete-context',
  'view',
  'merge',
  'add-server',
] as const;

export const configCommand: ClientCommand = {
  name: 'config',
  summary: "Manage the cluster's configs (files services mount), and the contexts of the client config file",
  usage:
    'berth config create|update NAME -f FILE|- | berth config ls | berth config inspect NAME | berth config rm NAME\n' +
    '       berth config get-contexts|current-context|use-context|set-context|delete-context|view|merge|add-server [ARGS] [flags]',
  description: [
    "The cluster's configs (files a service mounts with spec.configs: [{source: NAME, target: PATH}]):",
    '  create NAME -f FILE|-              store FILE (or standard input) as config NAME (plain text, up to 512 KiB)',
    '  update NAME -f FILE|-              replace it; every service using it rolls under its update policy',
    '  ls [-o json|yaml]                  NAME, SIZE, CREATED, UPDATED',
    '  inspect NAME [-o json|yaml]        print its value (configs are not secret)',
    '  rm NAME                            remove it (refused while a service uses it)',
    '',
    'The contexts of the client config file:',
    '  get-contexts                       list the contexts; * marks the current one',
    '  current-context                    print the current context',
    '  use-context NAME                   make NAME the current context',
    '  set-context NAME --server URL [--token T | --token-file F] [--certificate-authority CA_FILE]',
    '                                     create or change a context (the first one becomes current);',
    "                                     the CA file's certificate is kept in it (certificate-authority-data)",
    '  delete-context NAME                remove a context',
    '  view [--raw]                       print the file, tokens REDACTED unless --raw',
    "  merge FILE [--name NAME]           add a server's <data-dir>/berth.yaml as a context",
    '  add-server URL [CONTEXT]           one more API URL for a context (default: the current one),',
    '                                     tried when the others do not answer (several servers)',
    '',
    'The file written is the one in use (--config, $BERTH_CONFIG, else ~/.berth/config), mode 0600.',
    'A flat "server: / token:" file is converted to a context named "default" when first written.',
  ].join('\n'),
  examples: [
    'berth config create nginx-conf -f ./nginx.conf',
    'berth config inspect nginx-conf',
    'berth config merge /var/lib/berth/berth.yaml --name prod',
    'berth config set-context dev --server https://127.0.0.1:7070 --token-file ./token --certificate-authority ./ca.crt',
    'berth config use-context prod',
    'berth config add-server https://10.0.0.2:7070',
    'berth config get-contexts',
    'berth --context dev get services',
  ],
  options: {
    file: { type: 'string', short: 'f', valueName: 'FILE', description: 'create/update: read the value from FILE, or - for standard input' },
    'token-file': { type: 'string', valueName: 'FILE', description: 'set-context: read the token from this file' },
    name: { type: 'string', valueName: 'NAME', description: 'merge: the context name (default: the server host:port)' },
    raw: { type: 'boolean', description: 'view: show tokens' },
    output: { type: 'string', short: 'o', valueName: 'FORMAT', description: 'get-contexts: name (names only); view: yaml (default) or json; ls, inspect: json or yaml' },
  },
  run(ctx, args) {
    const [sub, ...names] = args.positionals;
    if (sub && (FILE_ACTIONS.config.includes(sub) || sub === 'list')) return runFileAction(ctx, args, 'config', sub, names);
    return Promise.resolve(runConfig(ctx, args));
  },
};

function runConfig(ctx: CommandContext, args: ParsedArgs): number {
  const [sub, ...rest] = args.positionals;
  if (!sub) throw new UsageError(`config needs a subcommand: ${[...FILE_ACTIONS.config, ...CONFIG_SUBCOMMANDS].join(', ')}`, 'config');
  const loc = ctx.configFile?.();
  if (!loc) throw new CliError('config: no config file location');
  const file = loc.path;
  const arity = (n: number, what: string) => {
    if (rest.length !== n) throw new UsageError(`config ${sub} takes ${what}`, 'config');
  };
  switch (sub) {
    case 'get-contexts':
      arity(0, 'no argument');
      return getContexts(ctx, readForEdit(file), stringOpt(args.values, 'output'));
    case 'current-context': {
      arity(0, 'no argument');
      const cfg = readForEdit(file);
      const cur = cfg.currentContext ?? (cfg.contexts.default && contextNames(cfg).length === 1 ? 'default' : undefined);
      if (!cur) throw new CliError(`no current context in ${file}: run "berth config use-context NAME"`);
      ctx.out(cur);
      return 0;
    }
    case 'use-context': {
      arity(1, 'one context NAME');
      const name = rest[0] ?? '';
      writeConfig(file, useContext(readForEdit(file), name, file));
      ctx.out(`switched to context "${name}"`);
      return 0;
    }
    case 'set-context': {
      arity(1, 'one context NAME');
      const name = rest[0] ?? '';
      const change = contextChange(args);
      const { file: next, created } = setContext(readForEdit(file), name, change);
      writeConfig(file, next);
      ctx.out(`context "${name}" ${created ? 'created' : 'modified'}${next.currentContext === name && created ? ' (current)' : ''}`);
      return 0;
    }
    case 'delete-context': {
      arity(1, 'one context NAME');
      const name = rest[0] ?? '';
      const { file: next, wasCurrent } = deleteContext(readForEdit(file), name, file);
      writeConfig(file, next);
      ctx.out(`deleted context "${name}" from ${file}`);
      if (wasCurrent) ctx.err(`warning: "${name}" was the current context; choose another with "berth config use-context NAME"`);
      return 0;
    }
    case 'view': {
      arity(0, 'no argument');
      const cfg = readForEdit(file);
      const shown = boolOpt(args.values, 'raw') ? cfg : redact(cfg);
      const fmt = stringOpt(args.values, 'output') ?? 'yaml';
      if (fmt !== 'yaml' && fmt !== 'json') throw new UsageError(`config view: -o must be yaml or json, not "${fmt}"`, 'config');
      const text = serializeConfig(shown);
      ctx.out(fmt === 'json' ? JSON.stringify(toJson(shown), null, 2) : text.trimEnd());
      return 0;
    }
    case 'add-server': {
      if (rest.length < 1 || rest.length > 2) throw new UsageError('config add-server takes a URL and optionally a context NAME', 'config');
      const url = (rest[0] ?? '').replace(/\/+$/, '');
      checkUrl(url, 'add-server');
      const cfg = readForEdit(file);
      const name = rest[1] ?? cfg.currentContext;
      if (!name) throw new CliError(`no current context in ${file}: name one, "berth config add-server URL CONTEXT"`);
      requireContext(cfg, name, file);
      const { file: next } = setContext(cfg, name, { addServers: [url] });
      writeConfig(file, next);
      const urls = next.contexts[name]?.servers ?? [next.contexts[name]?.server ?? url];
      ctx.out(`context "${name}" servers: ${urls.join(', ')}`);
      return 0;
    }
    case 'merge':
      arity(1, 'one FILE');
      return merge(ctx, file, rest[0] ?? '', stringOpt(args.values, 'name'));
    default:
      throw new UsageError(`unknown config subcommand "${sub}"${didYouMean(sub, CONFIG_SUBCOMMANDS)}`, 'config');
  }
}

function getContexts(ctx: CommandContext, cfg: ConfigFile, output: string | undefined): number {
  const names = contextNames(cfg);
  if (output === 'name') {
    if (names.length) ctx.out(names.join('\n'));
    return 0;
  }
  if (output !== undefined) throw new UsageError(`config get-contexts: -o must be name, not "${output}"`, 'config');
  if (!names.length) {
    ctx.err('No contexts found.');
    return 0;
  }
  const rows = names.map((n) => [cfg.currentContext === n ? '*' : '', n, cfg.contexts[n]?.server ?? '']);
  ctx.out(renderTable(['CURRENT', 'NAME', 'SERVER'], rows));
  return 0;
}

function contextChange(args: ParsedArgs): { server?: string; token?: string; caData?: string } {
  const server = stringOpt(args.values, 'server');
  const token = stringOpt(args.values, 'token');
  const tokenFile = stringOpt(args.values, 'token-file');
  if (token !== undefined && tokenFile !== undefined) throw new UsageError('give either --token or --token-file, not both', 'config');
  if (server !== undefined) checkUrl(server);
  let fileToken: string | undefined;
  if (tokenFile !== undefined) {
    try {
      fileToken = readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      throw new CliError(`cannot read --token-file ${tokenFile}: ${errorMessage(err)}`);
    }
    if (!fileToken) throw new CliError(`--token-file ${tokenFile} is empty`);
  }
  const t = token ?? fileToken;
  const caFile = stringOpt(args.values, 'certificate-authority');
  let caData: string | undefined;
  if (caFile !== undefined) {
    let pem: string;
    try {
      pem = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read --certificate-authority ${caFile}: ${errorMessage(err)}`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CliError(`--certificate-authority ${caFile}: not a PEM certificate`);
    caData = Buffer.from(pem).toString('base64');
  }
  return {
    ...(server !== undefined ? { server: server.replace(/\/+$/, '') } : {}),
    ...(t !== undefined ? { token: t } : {}),
    ...(caData !== undefined ? { caData } : {}),
  };
}

function checkUrl(server: string, what = '--server'): void {
  let url: URL | undefined;
  try {
    url = new URL(server);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new UsageError(`${what} "${server}" is not a URL like https://127.0.0.1:7070`, 'config');
  }
}

function merge(ctx: CommandContext, target: string, source: string, name: string | undefined): number {
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${source}: ${errorMessage(err)}`);
  }
  const other = parseConfigFile(text, source);
  const { file: next, merged } = mergeConfig(readForEdit(target), other, { ...(name ? { name } : {}), flat: isFlatConfig(text, source) });
  writeConfig(target, next);
  for (const m of merged) ctx.out(`context "${m}" merged from ${source}${next.currentContext === m ? ' (current)' : ''}`);
  return 0;
}

function toJson(cfg: ConfigFile): unknown {
  return {
    ...(cfg.currentContext ? { 'current-context': cfg.currentContext } : {}),
    contexts: Object.entries(cfg.contexts).map(([name, c]) => ({ name, ...c })),
  };
}
