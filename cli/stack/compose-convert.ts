// Converting a loaded compose project into Berth Service manifests named `<stack>-<service>`,
// the stack's networks, volumes, secrets and configs, and a report of every key not honoured.
// Owns: the mapping of each service key (table in compose-keys.ts, docs in docs/stacks.md).
// Must not: read compose files (compose-load.ts) or talk to the API.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validateService } from '../../common/manifest/validate.js';
import type { Service, ServiceSpec } from '../../common/types.js';
import { UNKNOWN_KEY_REASON, type ReportKind } from './compose-keys.js';
import { ComposeError, problem, type ComposeMap, type ComposePath, type ComposeProject } from './compose-load.js';
import { convertService, type ServiceContext } from './compose-service.js';
import { keyValues } from './compose-values.js';

export const STACK_LABEL = 'berth.stack';
export const STACK_SERVICE_LABEL = 'berth.stack.service';

/** Mounts and attachments whose server side is its own feature; the spec carries them as is. */
export type StackVolumeMount =
  | { name: string; target: string; readOnly?: boolean }
  | { hostPath: string; target: string; readOnly?: boolean }
  | { tmpfs: true; target: string; sizeBytes?: number };
export interface StackFileRef {
  source: string;
  target?: string;
  mode?: number;
}
export interface StackServiceSpec extends ServiceSpec {
  networks?: string[];
  volumes?: StackVolumeMount[];
  secrets?: StackFileRef[];
  configs?: StackFileRef[];
}
export interface StackService extends Omit<Service, 'spec'> {
  spec: StackServiceSpec;
}

/** A network, volume, secret or config the stack creates, or (external) expects to exist. */
export interface StackObject {
  kind: 'Network' | 'Volume' | 'Secret' | 'Config';
  name: string;
  /** The name in the compose file. */
  composeName: string;
  external?: boolean;
  driver?: string;
  driverOpts?: Record<string, string>;
  labels?: Record<string, string>;
  internal?: boolean;
  attachable?: boolean;
  /** Secrets and configs: the file to read, absolute. */
  file?: string;
  /** Secrets and configs: the environment variable holding the content (compose `environment:`). */
  environment?: string;
  /** Configs: inline content. */
  content?: string;
}

export interface Report {
  kind: ReportKind;
  key: string;
  services: string[];
  reason: string;
}

export interface Conversion {
  services: StackService[];
  objects: StackObject[];
  reports: Report[];
}

export interface ConvertOptions {
  env: Record<string, string | undefined>;
  readText?: (file: string) => string;
  homeDir?: string;
  /** A missing env_file: an error (default) or a report. */
  missingEnvFile?: 'error' | 'report';
}

const STACK_NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The Berth name of a compose service: `<stack>-<service>`, lowercased, `_` and `.` as `-`. */
export function berthServiceName(stack: string, service: string): string {
  return `${stack}-${service.toLowerCase().replace(/[_.]/g, '-')}`;
}

/** Converts every service; throws ComposeError listing every error (nothing is half-converted). */
export function convertProject(project: ComposeProject, stack: string, opts: ConvertOptions): Conversion {
  if (!STACK_NAME_RE.test(stack) || stack.length > 40) {
    throw new ComposeError(`invalid stack name "${stack}": lowercase letters, digits and "-", up to 40 characters`);
  }
  const errors: string[] = [];
  const reports = new Reports();
  const model = project.model;
  const fail = (p: ComposePath, reason: string) => errors.push(problem(project, p, reason));
  const topLevel = (key: string) => (isMap(model[key]) ? (model[key] as Record<string, ComposeMap | null>) : {});
  for (const key of Object.keys(model)) {
    if (['services', 'networks', 'volumes', 'secrets', 'configs'].includes(key) || key.startsWith('x-')) continue;
    if (key === 'name') reports.add('ignored', 'name', '(top level)', 'the stack name is the one given on the command line');
    else if (key === 'version') continue; // informative only, as under the Compose Specification
    else reports.add('unsupported', key, '(top level)', UNKNOWN_KEY_REASON);
  }
  const objects: StackObject[] = [];
  const names = {
    networks: resources('Network', 'networks', topLevel('networks'), stack, project, objects, reports, fail),
    volumes: resources('Volume', 'volumes', topLevel('volumes'), stack, project, objects, reports, fail),
    secrets: resources('Secret', 'secrets', topLevel('secrets'), stack, project, objects, reports, fail),
    configs: resources('Config', 'configs', topLevel('configs'), stack, project, objects, reports, fail),
  };
  const services = model.services as Record<string, ComposeMap | null>;
  const byBerthName = new Map<string, string>();
  const out: StackService[] = [];
  let usesDefaultNetwork = false;
  for (const [name, raw] of Object.entries(services)) {
    const at: ComposePath = ['services', name];
    const berthName = berthServiceName(stack, name);
    if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(name) || berthName.length > 63) {
      fail(at, `service name "${name}" cannot become a Berth service name (letters, digits, "-", "_", "."; ${berthName.length} > 63 characters?)`);
      continue;
    }
    const other = byBerthName.get(berthName);
    if (other) {
      fail(at, `service "${name}" and "${other}" would both be named ${berthName}`);
      continue;
    }
    byBerthName.set(berthName, name);
    if (!isMap(raw)) {
      fail(at, 'must be a mapping');
      continue;
    }
    const ctx: ServiceContext = {
      stack,
      name,
      at,
      project,
      names,
      services: Object.keys(services),
      env: opts.env,
      readText: opts.readText ?? ((f) => readFileSync(f, 'utf8')),
      homeDir: opts.homeDir ?? os.homedir(),
      missingEnvFile: opts.missingEnvFile ?? 'error',
      fail: (p, reason) => fail([...at, ...p], reason),
      report: (kind, key, reason) => reports.add(kind, key, name, reason),
    };
    const errorsBefore = errors.length;
    const spec = convertService(raw, ctx);
    if (!spec || errors.length > errorsBefore) continue;
    if (!spec.networks) {
      spec.networks = [names.networks.get('default') ?? `${stack}_default`];
      usesDefaultNetwork = true;
    }
    // `db` finds this stack's db: the cluster's resolver answers `<service>.<stack>.berth` (docs/networking.md).
    // `berth` last: other services by their Berth names (`shop-web`, `metrics`).
    spec.dnsSearch = [`${stack}.berth`, 'berth'];
    const svc: StackService = {
      apiVersion: 'berth/v1',
      kind: 'Service',
      metadata: { name: berthName, labels: { ...serviceLabels(raw, ctx), [STACK_LABEL]: stack, [STACK_SERVICE_LABEL]: labelSafe(name) } },
      spec,
    };
    // The Berth fields must pass Berth's own checks; the others belong to their features.
    const { networks: _n, volumes: _v, secrets: _s, configs: _c, ...berthSpec } = spec;
    for (const issue of validateService({ ...svc, spec: berthSpec })) fail(at, `converted ${issue.path}: ${issue.reason}`);
    out.push(svc);
  }
  if (usesDefaultNetwork && !names.networks.has('default')) {
    objects.unshift({ kind: 'Network', name: `${stack}_default`, composeName: 'default' });
  }
  for (const svc of out) for (const d of svc.spec.dependsOn ?? []) d.service = berthServiceName(stack, d.service);
  if (errors.length) throw new ComposeError(errors.join('\n'));
  return { services: out, objects, reports: reports.list() };
}

function isMap(v: unknown): v is ComposeMap {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** A compose service name as a label value (Berth label values are at most 63 safe characters). */
function labelSafe(name: string): string {
  return name.replace(/[^-A-Za-z0-9_.]/g, '-').slice(0, 63);
}

/** `deploy.labels` as service labels where they fit Berth's label rules; the rest is reported. */
function serviceLabels(raw: ComposeMap, ctx: ServiceContext): Record<string, string> {
  const deploy = isMap(raw.deploy) ? raw.deploy : {};
  if (deploy.labels === undefined) return {};
  const out: Record<string, string> = {};
  let labels: Record<string, string>;
  try {
    labels = keyValues(deploy.labels, () => '');
  } catch (err) {
    ctx.fail(['deploy', 'labels'], (err as Error).message);
    return {};
  }
  const bad: string[] = [];
  for (const [k, v] of Object.entries(labels)) {
    const probe = { apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'x', labels: { [k]: v } }, spec: { image: 'x' } };
    if (validateService(probe).length || k === STACK_LABEL || k === STACK_SERVICE_LABEL) bad.push(k);
    else out[k] = v;
  }
  if (bad.length) ctx.report('ignored', 'deploy.labels', `not valid Berth service labels (keys as DNS names, values up to 63 of A-Z a-z 0-9 - _ .): ${bad.join(', ')}`);
  return out;
}

class Reports {
  private readonly byKey = new Map<string, Report>();
  add(kind: ReportKind, key: string, service: string, reason: string): void {
    const id = `${kind}\u0000${key}\u0000${reason}`;
    const r = this.byKey.get(id);
    if (r) {
      if (!r.services.includes(service)) r.services.push(service);
    } else this.byKey.set(id, { kind, key, services: [service], reason });
  }
  list(): Report[] {
    return [...this.byKey.values()];
  }
}

export function formatReport(r: Report): string {
  const who = r.services.length === 1 && r.services[0] === '(top level)' ? '(top level)' : `(service${r.services.length > 1 ? 's' : ''} ${r.services.join(', ')})`;
  return `${r.kind}: ${r.key} ${who}: ${r.reason}`;
}

type Kind = StackObject['kind'];
const RESOURCE_KEYS: Record<string, ReadonlySet<string>> = {
  networks: new Set(['driver', 'driver_opts', 'labels', 'internal', 'attachable', 'name', 'external']),
  volumes: new Set(['driver', 'driver_opts', 'labels', 'name', 'external']),
  secrets: new Set(['file', 'environment', 'labels', 'name', 'external']),
  configs: new Set(['file', 'environment', 'content', 'labels', 'name', 'external']),
};

/** Top-level definitions -> objects; returns compose name -> Berth name. */
function resources(
  kind: Kind,
  key: 'networks' | 'volumes' | 'secrets' | 'configs',
  defs: Record<string, ComposeMap | null>,
  stack: string,
  project: ComposeProject,
  objects: StackObject[],
  reports: Reports,
  fail: (p: ComposePath, reason: string) => void,
): Map<string, string> {
  const names = new Map<string, string>();
  for (const [composeName, raw] of Object.entries(defs)) {
    const at: ComposePath = [key, composeName];
    const def = isMap(raw) ? raw : {};
    if (raw !== null && raw !== undefined && !isMap(raw)) {
      fail(at, 'must be a mapping or empty');
      continue;
    }
    const externalRaw = def.external;
    const external = externalRaw === true || isMap(externalRaw);
    const explicitName = typeof def.name === 'string' ? def.name : isMap(externalRaw) && typeof externalRaw.name === 'string' ? externalRaw.name : undefined;
    // Secrets and volumes as `<stack>-<name>`, like the services; networks and configs as `<stack>_<name>`.
    const sep = kind === 'Secret' || kind === 'Volume' ? '-' : '_';
    const name = explicitName ?? (external ? composeName : `${stack}${sep}${composeName}`);
    names.set(composeName, name);
    const obj: StackObject = { kind, name, composeName };
    if (external) obj.external = true;
    for (const [k, v] of Object.entries(def)) {
      if (!RESOURCE_KEYS[key]!.has(k)) {
        reports.add('unsupported', `${key}.${k}`, '(top level)', `${kind.toLowerCase()} option not converted (${composeName})`);
        continue;
      }
      try {
        if (k === 'driver' && typeof v === 'string') obj.driver = v;
        else if (k === 'driver_opts' && isMap(v)) obj.driverOpts = keyValues(v, () => undefined);
        else if (k === 'labels') obj.labels = keyValues(v, () => '');
        else if (k === 'internal') obj.internal = v === true;
        else if (k === 'attachable') obj.attachable = v === true;
        else if (k === 'file' && typeof v === 'string') obj.file = path.resolve(project.dir, v);
        else if (k === 'environment' && typeof v === 'string') obj.environment = v;
        else if (k === 'content' && typeof v === 'string') obj.content = v;
      } catch (err) {
        fail([...at, k], (err as Error).message);
      }
    }
    if (!external && (kind === 'Secret' || kind === 'Config') && !obj.file && !obj.environment && obj.content === undefined) {
      fail(at, `${kind.toLowerCase()} needs file:, environment:${kind === 'Config' ? ', content:' : ''} or external: true`);
    }
    objects.push(obj);
  }
  return names;
}
