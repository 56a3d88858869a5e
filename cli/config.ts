// Where the client finds its cluster: `--config FILE`, else `$BERTH_CONFIG`, else
// `~/.berth/config`; `--server` and `--token` override what the file says.
//
// The file is either the flat `{ server, token }` that `berth server` writes to
// `<data-dir>/berth.yaml`, or a `contexts:` list + `current-context:` (several clusters, written
// by `berth config`, see contexts.ts). Internally every file is normalised to a set of named
// contexts; the flat format simply becomes the context named `default`. `--context NAME` picks
// another context than the current one.
//
// A context may name several API URLs (the servers of one cluster sharing an etcd): `servers:
// [URL, ...]` beside or instead of `server:` (which, if given, is tried first). The client moves
// to the next when one does not answer (api-client.ts). `--server URL` means that one only.
//
// The API is HTTPS with a certificate of the cluster CA. A context carries that CA as kubeconfig
// does, `certificate-authority-data: <base64 of the PEM>` (berth.yaml has it); `--certificate-authority
// FILE` overrides it, and `$BERTH_CA_FILE` serves a context without one.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CliError } from './command.js';
import { didYouMean } from './did-you-mean.js';
import { errorMessage } from '../common/errors.js';

export const DEFAULT_CONFIG_RELATIVE = path.join('.berth', 'config');
export const FLAT_CONTEXT = 'default';

export interface ClusterConfig {
  /** The API URL tried first. */
  server: string;
  /** Every API URL of the context, `server` first (only when there are several). */
  servers?: string[];
  token?: string;
  /** `certificate-authority-data`: the cluster CA's certificate, base64 of its PEM. */
  caData?: string;
}

export interface ConfigFile {
  contexts: Record<string, ClusterConfig>;
  currentContext?: string;
}

export interface ConfigInputs {
  /** `context` picks a context of the file instead of its current-context (`--context NAME`). */
  flags: { config?: string; server?: string; token?: string; context?: string; certificateAuthority?: string };
  env: Record<string, string | undefined>;
  homeDir: string;
}

export interface ResolvedConfig extends ClusterConfig {
  /** The file the settings came from, or undefined when flags alone configured the client. */
  path?: string;
  context?: string;
  /** `--token` or the config file's path: named when the server rejects the token. */
  tokenSource?: string;
  /** The CA (PEM) the server's certificate must be signed by; without it, the system's roots. */
  ca?: string;
  /** Where `ca` came from, named when the server's certificate fails verification. */
  caSource?: string;
}

/** Which config file applies, and whether the user named it (then it must exist). */
export function configLocation(inputs: ConfigInputs): { path: string; explicit: boolean; origin: string } {
  if (inputs.flags.config) return { path: inputs.flags.config, explicit: true, origin: '--config' };
  const fromEnv = inputs.env.BERTH_CONFIG;
  if (fromEnv) return { path: fromEnv, explicit: true, origin: '$BERTH_CONFIG' };
  return { path: path.join(inputs.homeDir, DEFAULT_CONFIG_RELATIVE), explicit: false, origin: 'default' };
}

export function resolveConfig(inputs: ConfigInputs, read: (p: string) => string = readText): ResolvedConfig {
  const loc = configLocation(inputs);
  let text: string | undefined;
  try {
    text = read(loc.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' || loc.explicit) {
      const why = code === 'ENOENT' ? 'no such file' : errorMessage(err);
      throw new CliError(`cannot read config file ${loc.path} (from ${loc.origin}): ${why}`);
    }
  }
  let fromFile: ClusterConfig | undefined;
  let context: string | undefined;
  if (text !== undefined) {
    const file = parseConfigFile(text, loc.path);
    context = inputs.flags.context ?? file.currentContext ?? (file.contexts[FLAT_CONTEXT] ? FLAT_CONTEXT : undefined);
    fromFile = context ? file.contexts[context] : undefined;
    if (context && !fromFile) {
      const names = Object.keys(file.contexts);
      const what = inputs.flags.context ? `--context "${context}"` : `current-context "${context}"`;
      throw new CliError(
        `${loc.path}: ${what} is not among contexts${didYouMean(context, names)}` +
          (names.length ? ` (contexts: ${names.join(', ')})` : ''),
      );
    }
    if (!context && Object.keys(file.contexts).length && !inputs.flags.server) {
      throw new CliError(`${loc.path}: no current context: run "berth config use-context NAME" or pass --context NAME`);
    }
  } else if (inputs.flags.context) {
    throw new CliError(`--context "${inputs.flags.context}": there is no config file at ${loc.path}`);
  }
  const server = inputs.flags.server ?? fromFile?.server;
  const others = inputs.flags.server ? [] : (fromFile?.servers ?? []).filter((u) => u !== server);
  if (!server) {
    throw new CliError(
      `no server configured: pass --server URL and --token TOKEN, set $BERTH_CONFIG, or copy the ` +
        `berth.yaml that "berth server" writes in its data dir to ${path.join(inputs.homeDir, DEFAULT_CONFIG_RELATIVE)}`,
    );
  }
  checkServerUrl(server, inputs.flags.server ? '--server' : `${loc.path}: server`);
  others.forEach((u) => checkServerUrl(u, `${loc.path}: servers`));
  const trim = (u: string) => u.replace(/\/+$/, '');
  const token = inputs.flags.token ?? fromFile?.token;
  const ca = resolveCa(inputs, fromFile, context ? `${loc.path}${context !== FLAT_CONTEXT ? ` (context "${context}")` : ''}` : loc.path, read);
  return {
    server: trim(server),
    ...(others.length ? { servers: [...new Set([server, ...others].map(trim))] } : {}),
    ...ca,
    ...(token ? { token, tokenSource: inputs.flags.token ? '--token' : context && context !== FLAT_CONTEXT ? `${loc.path} (context "${context}")` : loc.path } : {}),
    ...(text !== undefined ? { path: loc.path } : {}),
    ...(context && context !== FLAT_CONTEXT ? { context } : {}),
  };
}

/** The CA to verify the server with: --certificate-authority, else the context's, else $BERTH_CA_FILE. */
function resolveCa(inputs: ConfigInputs, fromFile: ClusterConfig | undefined, where: string, read: (p: string) => string): { ca?: string; caSource?: string } {
  const file = inputs.flags.certificateAuthority;
  if (file) return { ca: readCa(file, '--certificate-authority', read), caSource: `--certificate-authority ${file}` };
  if (fromFile?.caData) {
    const pem = Buffer.from(fromFile.caData, 'base64').toString('utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CliError(`${where}: certificate-authority-data: not the base64 of a PEM certificate`);
    return { ca: pem, caSource: `certificate-authority-data of ${where}` };
  }
  const envFile = inputs.env.BERTH_CA_FILE;
  if (envFile) return { ca: readCa(envFile, '$BERTH_CA_FILE', read), caSource: `$BERTH_CA_FILE (${envFile})` };
  return {};
}

function readCa(file: string, origin: string, read: (p: string) => string): string {
  let pem: string;
  try {
    pem = read(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read the CA certificate ${file} (from ${origin}): ${code === 'ENOENT' ? 'no such file' : errorMessage(err)}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CliError(`${file} (from ${origin}): not a PEM certificate`);
  return pem;
}

/** Parses either the flat format or the contexts format; errors name the file and field. */
export function parseConfigFile(text: string, file: string): ConfigFile {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new CliError(`${file}: not valid YAML: ${firstLine(errorMessage(err))}`);
  }
  if (doc === null || doc === undefined) return { contexts: {} };
  if (!isRecord(doc)) throw new CliError(`${file}: must be a mapping like "server: https://127.0.0.1:7070"`);
  const contexts: Record<string, ClusterConfig> = {};
  if (doc.server !== undefined || doc.servers !== undefined || doc.token !== undefined) {
    contexts[FLAT_CONTEXT] = cluster(doc, file, '');
  }
  if (doc.contexts !== undefined) {
    if (!Array.isArray(doc.contexts)) throw new CliError(`${file}: contexts: must be a list`);
    doc.contexts.forEach((c: unknown, i) => {
      const where = `contexts[${i}].`;
      if (!isRecord(c) || typeof c.name !== 'string' || !c.name) {
        throw new CliError(`${file}: ${where}name: required`);
      }
      contexts[c.name] = cluster(c, file, where);
    });
  }
  const current = doc['current-context'];
  if (current !== undefined && typeof current !== 'string') {
    throw new CliError(`${file}: current-context: must be a string`);
  }
  return { contexts, ...(current ? { currentContext: current } : {}) };
}

function cluster(obj: Record<string, unknown>, file: string, where: string): ClusterConfig {
  let list: string[] = [];
  if (obj.servers !== undefined && obj.servers !== null) {
    if (!Array.isArray(obj.servers) || !obj.servers.length || !obj.servers.every((u) => typeof u === 'string' && u)) {
      throw new CliError(`${file}: ${where}servers: must be a list of API URLs like [https://10.0.0.1:7070, https://10.0.0.2:7070]`);
    }
    list = obj.servers as string[];
  }
  if (obj.server !== undefined && (typeof obj.server !== 'string' || !obj.server)) throw new CliError(`${file}: ${where}server: must be an API URL`);
  const first = typeof obj.server === 'string' ? obj.server : list[0];
  if (!first) throw new CliError(`${file}: ${where}server: required (or servers: a list of API URLs)`);
  const servers = [...new Set([first, ...list])];
  if (obj.token !== undefined && typeof obj.token !== 'string') {
    throw new CliError(`${file}: ${where}token: must be a string`);
  }
  const caData = obj['certificate-authority-data'];
  if (caData !== undefined && typeof caData !== 'string') {
    throw new CliError(`${file}: ${where}certificate-authority-data: must be a string (base64 of the CA's PEM)`);
  }
  return {
    server: first,
    ...(servers.length > 1 ? { servers } : {}),
    ...(typeof obj.token === 'string' ? { token: obj.token } : {}),
    ...(caData ? { caData } : {}),
  };
}

function checkServerUrl(server: string, where: string): void {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new CliError(`${where}: "${server}" is not a URL like https://127.0.0.1:7070`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`${where}: "${server}" must start with http:// or https://`);
  }
}

function readText(p: string): string {
  return readFileSync(p, 'utf8');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
