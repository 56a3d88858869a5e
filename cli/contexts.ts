// Editing the client config file: named contexts (server + token) and the current one. The
// operations on a ConfigFile are pure; readForEdit/writeConfig do the file I/O. Written files
// always use the contexts form (a flat `{server, token}` file becomes the context `default`)
// with mode 0600, since they hold bearer tokens.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { CliError } from './command.js';
import { FLAT_CONTEXT, parseConfigFile, type ClusterConfig, type ConfigFile } from './config.js';
import { didYouMean } from './did-you-mean.js';
import { errorMessage } from '../common/errors.js';

export const REDACTED = 'REDACTED';

export function contextNames(file: ConfigFile): string[] {
  return Object.keys(file.contexts);
}

/** The context a command works with, or a clear error naming the ones that exist. */
export function requireContext(file: ConfigFile, name: string, where: string): ClusterConfig {
  const ctx = file.contexts[name];
  if (ctx) return ctx;
  const names = contextNames(file);
  throw new CliError(
    `no context "${name}" in ${where}${didYouMean(name, names)}` +
      (names.length ? ` (contexts: ${names.join(', ')})` : ' (it has no contexts)'),
  );
}

export function setContext(
  file: ConfigFile,
  name: string,
  change: { server?: string; token?: string; caData?: string; addServers?: string[] },
): { file: ConfigFile; created: boolean } {
  const old = file.contexts[name];
  const server = change.server ?? old?.server;
  if (!server) throw new CliError(`context "${name}" is new: --server URL is required`);
  const token = change.token ?? old?.token;
  const caData = change.caData ?? old?.caData;
  // A new --server replaces the list; added URLs go after those already there.
  const kept = change.server !== undefined && change.server !== old?.server ? [] : (old?.servers ?? []);
  const servers = [...new Set([server, ...kept, ...(change.addServers ?? [])])];
  const contexts = {
    ...file.contexts,
    [name]: { server, ...(servers.length > 1 ? { servers } : {}), ...(token !== undefined ? { token } : {}), ...(caData ? { caData } : {}) },
  };
  // The first context of a file becomes the current one: a fresh file then just works.
  const currentContext = file.currentContext ?? (Object.keys(file.contexts).length === 0 ? name : undefined);
  return { file: { contexts, ...(currentContext ? { currentContext } : {}) }, created: !old };
}

export function useContext(file: ConfigFile, name: string, where: string): ConfigFile {
  requireContext(file, name, where);
  return { ...file, currentContext: name };
}

export function deleteContext(file: ConfigFile, name: string, where: string): { file: ConfigFile; wasCurrent: boolean } {
  requireContext(file, name, where);
  const contexts = Object.fromEntries(Object.entries(file.contexts).filter(([n]) => n !== name));
  const wasCurrent = file.currentContext === name;
  return { file: { contexts, ...(file.currentContext && !wasCurrent ? { currentContext: file.currentContext } : {}) }, wasCurrent };
}

/**
 * Merges another config (typically a server's `<data-dir>/berth.yaml`, flat) into `file`. A flat
 * file becomes one context named `name`, or after its server's host:port; a contexts file keeps
 * its names (`name` then only allowed with a single context). Existing names are replaced.
 */
export function mergeConfig(
  file: ConfigFile,
  other: ConfigFile,
  opts: { name?: string; flat: boolean },
): { file: ConfigFile; merged: string[] } {
  const entries = Object.entries(other.contexts);
  if (!entries.length) throw new CliError('nothing to merge: the file has no server');
  if (opts.name && entries.length > 1) throw new CliError(`--name needs a file with one context; it has ${entries.length}`);
  let result = file;
  const merged: string[] = [];
  for (const [origName, cluster] of entries) {
    const name = opts.name ?? (opts.flat ? defaultContextName(cluster.server) : origName);
    result = { ...result, contexts: { ...result.contexts, [name]: cluster } };
    merged.push(name);
  }
  if (!result.currentContext) result = { ...result, currentContext: merged[0] ?? '' };
  return { file: result, merged };
}

/** `http://10.0.0.1:7070` -> `10.0.0.1:7070`: readable, and distinct per cluster. */
export function defaultContextName(server: string): string {
  try {
    return new URL(server).host || server;
  } catch {
    return server;
  }
}

/** Whether a config text is the flat `{server, token}` form (no contexts list). */
export function isFlatConfig(text: string, file: string): boolean {
  const parsed = parseConfigFile(text, file);
  return !/^contexts\s*:/m.test(text) && Object.keys(parsed.contexts).length > 0;
}

export function redact(file: ConfigFile): ConfigFile {
  return {
    ...file,
    contexts: Object.fromEntries(
      Object.entries(file.contexts).map(([n, c]) => [n, { ...c, ...(c.token !== undefined ? { token: REDACTED } : {}) }]),
    ),
  };
}

/** The contexts form, in the order the contexts were added. */
export function serializeConfig(file: ConfigFile): string {
  const doc = {
    ...(file.currentContext ? { 'current-context': file.currentContext } : {}),
    contexts: Object.entries(file.contexts).map(([name, c]) => ({
      name,
      server: c.server,
      ...(c.servers && c.servers.length > 1 ? { servers: c.servers } : {}),
      ...(c.token !== undefined ? { token: c.token } : {}),
      ...(c.caData ? { 'certificate-authority-data': c.caData } : {}),
    })),
  };
  return toYaml(doc);
}

/** The file as it stands, or an empty config when it does not exist yet. */
export function readForEdit(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: {} };
    throw new CliError(`cannot read config file ${file}: ${errorMessage(err)}`);
  }
  const parsed = parseConfigFile(text, file);
  // What resolveConfig uses when no current-context is set (a flat file): keep it current.
  if (!parsed.currentContext && parsed.contexts[FLAT_CONTEXT]) return { ...parsed, currentContext: FLAT_CONTEXT };
  return parsed;
}

/** Replaces the file in one rename, so a reader never sees half of it; mode 0600. */
export function writeConfig(file: string, config: ConfigFile): void {
  const dir = path.dirname(file);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
    writeFileSync(tmp, serializeConfig(config), { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  } catch (err) {
    throw new CliError(`cannot write config file ${file}: ${errorMessage(err)}`);
  }
}
