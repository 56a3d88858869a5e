// Reading compose files as the Compose Specification does: YAML with anchors, `<<` merges and
// `x-` extension fields; `${VAR}` interpolation from the environment and a `.env` file beside
// the first file; several files merged in order.
// Owns: parsing, interpolation, merging, and finding the file:line of a path for errors.
// Must not: convert to Berth objects (compose-convert.ts) or talk to the API.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { CliError } from '../command.js';
import { scalarText } from './compose-values.js';

export type ComposePath = readonly (string | number)[];
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type ComposeMap = { [k: string]: Json };

interface Source {
  file: string;
  doc: Document;
  lines: LineCounter;
}

export interface ComposeProject {
  /** The merged, interpolated model. */
  model: ComposeMap;
  /** The folder of the first file: relative paths (env_file, bind mounts, secrets) resolve from it. */
  dir: string;
  /** `compose.yaml:14` for the deepest part of the path the files define, or the file alone. */
  locate(p: ComposePath): string;
}

/** A problem with a compose file: `compose.yaml:14 services.web.ports[1]: reason`. */
export class ComposeError extends CliError {
  override readonly code: string = 'COMPOSE';
}

export function formatPath(p: ComposePath): string {
  let out = '';
  for (const part of p) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part;
  return out;
}

/** `where path: reason`, e.g. `compose.yaml:14 services.web.ports[1]: "80:80:80" is not ...`. */
export function problem(project: Pick<ComposeProject, 'locate'>, p: ComposePath, reason: string): string {
  return `${project.locate(p)} ${formatPath(p)}: ${reason}`;
}

export interface LoadOptions {
  /** Variables of the environment; they win over the `.env` file. */
  env: Record<string, string | undefined>;
  readText?: (file: string) => string;
}

/** Reads, interpolates and merges the files. Throws ComposeError listing every problem found. */
export function loadCompose(files: readonly string[], opts: LoadOptions): ComposeProject {
  if (!files.length) throw new ComposeError('no compose file given (-c FILE)');
  const read = opts.readText ?? ((f: string) => readFileSync(f, 'utf8'));
  const dir = path.dirname(path.resolve(files[0]!));
  const vars = { ...readDotEnv(path.join(dir, '.env'), read), ...definedOnly(opts.env) };
  const sources: Source[] = [];
  const problems: string[] = [];
  let model: ComposeMap = {};
  for (const file of files) {
    let text: string;
    try {
      text = read(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ComposeError(`${file}: cannot read: ${code === 'ENOENT' ? 'no such file or directory' : code ?? scalarText(err)}`);
    }
    const lines = new LineCounter();
    const doc = parseDocument(text, { merge: true, lineCounter: lines, prettyErrors: false, uniqueKeys: true, customTags: (tags) => [legacyOctal, ...tags] });
    const name = path.basename(file);
    if (doc.errors.length) {
      for (const e of doc.errors) problems.push(`${name}:${lines.linePos(e.pos[0]).line} invalid YAML: ${e.message.split('\n')[0]}`);
      continue;
    }
    sources.push({ file: name, doc, lines });
    const raw: unknown = doc.toJS({ maxAliasCount: 10000 });
    if (raw === null || raw === undefined) continue;
    const src = locator([sources[sources.length - 1]!]);
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      problems.push(`${name}: must be a mapping with services:`);
      continue;
    }
    const interpolated = interpolate(raw as Json, [], vars, (p, reason) => problems.push(`${src(p)} ${formatPath(p)}: ${reason}`));
    model = mergeModels(model, interpolated as ComposeMap);
  }
  if (problems.length) throw new ComposeError(problems.join('\n'));
  const services = model.services;
  if (!services || typeof services !== 'object' || Array.isArray(services) || !Object.keys(services).length) {
    throw new ComposeError(`${files.map((f) => path.basename(f)).join(', ')}: no services defined`);
  }
  return { model, dir, locate: locator(sources) };
}

function definedOnly(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

function locator(sources: Source[]): (p: ComposePath) => string {
  return (p) => {
    // The last file that defines the path (or its nearest ancestor) is the one that set it; a
    // mapping entry is found at its key's line.
    for (let depth = p.length; depth > 0; depth--) {
      for (let i = sources.length - 1; i >= 0; i--) {
        const s = sources[i]!;
        const at = nodeStart(s.doc, p.slice(0, depth));
        if (at !== undefined) return `${s.file}:${s.lines.linePos(at).line}`;
      }
    }
    return sources.length ? sources[sources.length - 1]!.file : '<compose>';
  };
}

function nodeStart(doc: Document, p: ComposePath): number | undefined {
  const parent = p.length > 1 ? doc.getIn(p.slice(0, -1), true) : doc.contents;
  const last = p[p.length - 1];
  if (isMap(parent)) {
    const pair = parent.items.find((it) => isScalar(it.key) && String(it.key.value) === String(last));
    const key = pair?.key;
    if (key && isScalar(key) && key.range) return key.range[0];
  } else if (isSeq(parent) && typeof last === 'number') {
    const item = parent.items[last];
    if (item && (isScalar(item) || isMap(item) || isSeq(item)) && item.range) return item.range[0];
  }
  return undefined;
}

/** `0400` is octal in compose files (file modes), as YAML 1.1 and Go read it. */
const legacyOctal = {
  tag: 'tag:yaml.org,2002:int',
  default: true,
  test: /^0[0-7]+$/,
  resolve: (text: string) => parseInt(text, 8),
};

// ---------- .env ----------

/** `KEY=VALUE` lines; `#` comments, `export ` prefixes and quotes as compose reads them. */
export function parseDotEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!;
    const q = value[0];
    if ((q === '"' || q === "'") && value.lastIndexOf(q) > 0) {
      value = value.slice(1, value.lastIndexOf(q));
      if (q === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    } else {
      value = value.replace(/\s+#.*$/, '');
    }
    out[m[1]!] = value;
  }
  return out;
}

function readDotEnv(file: string, read: (f: string) => string): Record<string, string> {
  try {
    return parseDotEnv(read(file));
  } catch {
    return {};
  }
}

// ---------- interpolation ----------

/**
 * `${VAR}`, `$VAR`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`,
 * `${VAR:+alt}`, `${VAR+alt}`, `$$` -> `$`. Defaults may hold further `${...}`.
 */
export function interpolateString(text: string, vars: Record<string, string>): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
    } else if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw new Error(`invalid interpolation format for "${text}": no closing brace`);
      out += substitute(text.slice(i + 2, end), vars, text);
      i = end + 1;
    } else {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
      if (!m) {
        out += '$';
        i++;
      } else {
        out += vars[m[0]] ?? '';
        i += 1 + m[0].length;
      }
    }
  }
  return out;
}

function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let j = from; j < text.length; j++) {
    if (text[j] === '$' && text[j + 1] === '{') {
      depth++;
      j++;
    } else if (text[j] === '}' && --depth === 0) return j;
  }
  return -1;
}

function substitute(expr: string, vars: Record<string, string>, whole: string): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(expr);
  if (!m) throw new Error(`invalid interpolation format for "${whole}": "\${${expr}}"`);
  const [, name, op, arg = ''] = m;
  const value = vars[name!];
  const unset = value === undefined;
  const empty = unset || value === '';
  switch (op) {
    case undefined:
      return value ?? '';
    case ':-':
      return empty ? interpolateString(arg, vars) : value;
    case '-':
      return unset ? interpolateString(arg, vars) : value;
    case ':?':
    case '?':
      if (op === ':?' ? empty : unset) {
        throw new Error(arg ? `required variable ${name} is missing a value: ${interpolateString(arg, vars)}` : `required variable ${name} is missing a value`);
      }
      return value!;
    case ':+':
      return empty ? '' : interpolateString(arg, vars);
    case '+':
      return unset ? '' : interpolateString(arg, vars);
    default:
      throw new Error(`invalid interpolation format for "${whole}"`);
  }
}

function interpolate(v: Json, p: (string | number)[], vars: Record<string, string>, fail: (p: ComposePath, reason: string) => void): Json {
  if (typeof v === 'string') {
    try {
      return interpolateString(v, vars);
    } catch (err) {
      fail(p, (err as Error).message);
      return v;
    }
  }
  if (Array.isArray(v)) return v.map((x, i) => interpolate(x, [...p, i], vars, fail));
  if (v && typeof v === 'object') {
    const out: ComposeMap = {};
    for (const [k, x] of Object.entries(v)) out[k] = k.startsWith('x-') && p.length === 0 ? x : interpolate(x, [...p, k], vars, fail);
    return out;
  }
  return v;
}

// ---------- merging several files ----------

const REPLACED = new Set(['command', 'entrypoint', 'test']);
const MAPPED = new Set(['environment', 'labels', 'sysctls', 'extra_hosts', 'depends_on', 'networks', 'ulimits', 'annotations']);
const BY_TARGET = new Set(['volumes', 'secrets', 'configs', 'devices']);
const UNIQUE = new Set(['ports', 'expose', 'dns', 'dns_search', 'cap_add', 'cap_drop', 'env_file', 'security_opt', 'tmpfs', 'profiles']);

/** Merges an override file into the model so far (services by name, mappings deeply). */
export function mergeModels(base: ComposeMap, over: ComposeMap): ComposeMap {
  return mergeValue(base, over, []) as ComposeMap;
}

function mergeValue(a: Json | undefined, b: Json, p: string[]): Json {
  const key = p[p.length - 1] ?? '';
  const inService = p.length >= 3 && p[0] === 'services';
  if (a === undefined || a === null) return b;
  if (b === null) return a;
  if (inService && p.length === 3 && MAPPED.has(key)) {
    return mergeValue(asMap(a, key), asMap(b, key), [...p, '*']) ?? b;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (REPLACED.has(key)) return b;
    if (inService && p.length === 3 && BY_TARGET.has(key)) return mergeByTarget(a, b);
    if (UNIQUE.has(key)) return [...a, ...b.filter((x) => !a.some((y) => JSON.stringify(y) === JSON.stringify(x)))];
    return [...a, ...b];
  }
  if (isObj(a) && isObj(b)) {
    const out: ComposeMap = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = mergeValue(a[k], v, [...p, k]);
    return out;
  }
  return b;
}

function isObj(v: Json | undefined): v is ComposeMap {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** The list forms of environment/labels/sysctls (`K=V`) and depends_on/networks (`name`) as maps. */
function asMap(v: Json, key: string): Json {
  if (!Array.isArray(v)) return v;
  const out: ComposeMap = {};
  for (const item of v) {
    const s = scalarText(item);
    if (key === 'depends_on' || key === 'networks') out[s] = null;
    else {
      const eq = s.indexOf(key === 'extra_hosts' ? (s.includes('=') ? '=' : ':') : '=');
      if (eq < 0) out[s] = null;
      else out[s.slice(0, eq)] = s.slice(eq + 1);
    }
  }
  return out;
}

function mountTarget(v: Json): string {
  if (typeof v === 'string') {
    const parts = v.split(':');
    return parts.length >= 2 ? parts[1]! : parts[0]!;
  }
  if (isObj(v)) return scalarText(v.target ?? v.source ?? JSON.stringify(v));
  return JSON.stringify(v);
}

function mergeByTarget(a: Json[], b: Json[]): Json[] {
  const out = [...a];
  for (const item of b) {
    const i = out.findIndex((x) => mountTarget(x) === mountTarget(item));
    if (i >= 0) out[i] = item;
    else out.push(item);
  }
  return out;
}
