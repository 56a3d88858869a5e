// One compose service -> one Berth service spec, key by key (the table is compose-keys.ts).
// Errors go to ctx.fail with the path below the service; keys not honoured to ctx.report.
import path from 'node:path';
import type { DependsOnSpec, HealthCheckSpec, RestartPolicySpec, UlimitSpec, UpdateSpec } from '../../common/types.js';
import type { StackFileRef, StackServiceSpec, StackVolumeMount } from './compose-convert.js';
import { HONOURED_DEPLOY_KEYS, HONOURED_SERVICE_KEYS, REPORTED_KEYS, UNKNOWN_KEY_REASON, type ReportKind } from './compose-keys.js';
import type { ComposeMap, ComposePath, ComposeProject } from './compose-load.js';
import { commandList, formatBytes, keyValues, parseByteSize, parseDuration, parseShortPort, parseShortVolume, scalarText, type ComposePort } from './compose-values.js';
import { parseDotEnv } from './compose-load.js';

export interface ServiceContext {
  stack: string;
  name: string;
  at: ComposePath;
  project: ComposeProject;
  /** compose name -> Berth name of the top-level definitions. */
  names: { networks: Map<string, string>; volumes: Map<string, string>; secrets: Map<string, string>; configs: Map<string, string> };
  services: string[];
  env: Record<string, string | undefined>;
  readText(file: string): string;
  homeDir: string;
  /** A missing env_file: an error (deploy) or a report (convert prints what it can). */
  missingEnvFile: 'error' | 'report';
  fail(p: ComposePath, reason: string): void;
  report(kind: ReportKind, key: string, reason: string): void;
}

const isMap = (v: unknown): v is ComposeMap => !!v && typeof v === 'object' && !Array.isArray(v);

/** Runs f, sending a thrown Error's message to ctx.fail at p. */
function guard<T>(ctx: ServiceContext, p: ComposePath, f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    ctx.fail(p, (err as Error).message);
    return undefined;
  }
}

export function convertService(raw: ComposeMap, ctx: ServiceContext): StackServiceSpec | undefined {
  for (const key of Object.keys(raw)) {
    if (HONOURED_SERVICE_KEYS.has(key) || key.startsWith('x-')) continue;
    const known = REPORTED_KEYS[key];
    ctx.report(known?.kind ?? 'unsupported', key, known?.reason ?? UNKNOWN_KEY_REASON);
  }
  if (typeof raw.image !== 'string' || !raw.image.trim()) {
    if (raw.build !== undefined) {
      ctx.fail([], 'has build: and no image: there is no build on a cluster; build and push the image, then set image:');
    } else ctx.fail(['image'], 'required: the image the service runs');
    return undefined;
  }
  const spec: StackServiceSpec = { image: raw.image.trim() };
  if (raw.entrypoint !== undefined && raw.entrypoint !== null) spec.command = guard(ctx, ['entrypoint'], () => commandList(raw.entrypoint));
  if (raw.command !== undefined && raw.command !== null) spec.args = guard(ctx, ['command'], () => commandList(raw.command));
  convertEnv(raw, spec, ctx);
  convertPorts(raw, spec, ctx);
  convertMounts(raw, spec, ctx);
  convertNetworks(raw, spec, ctx);
  for (const key of ['secrets', 'configs'] as const) {
    if (raw[key] !== undefined && raw[key] !== null) spec[key] = fileRefs(raw[key], key, ctx);
  }
  const hc = guard(ctx, ['healthcheck'], () => healthCheck(raw.healthcheck, ctx));
  if (hc) spec.healthCheck = hc;
  const deps = guard(ctx, ['depends_on'], () => dependsOn(raw.depends_on, ctx));
  if (deps?.length) spec.dependsOn = deps;
  convertContainer(raw, spec, ctx);
  convertDeploy(raw, spec, ctx);
  return spec;
}

function convertEnv(raw: ComposeMap, spec: StackServiceSpec, ctx: ServiceContext): void {
  const env: Record<string, string> = {};
  if (raw.env_file !== undefined && raw.env_file !== null) {
    const files = Array.isArray(raw.env_file) ? raw.env_file : [raw.env_file];
    files.forEach((f, i) => {
      const entry = isMap(f) ? f : { path: f };
      const file = path.resolve(ctx.project.dir, scalarText(entry.path));
      const p: ComposePath = Array.isArray(raw.env_file) ? ['env_file', i] : ['env_file'];
      try {
        Object.assign(env, parseDotEnv(ctx.readText(file)));
      } catch (err) {
        if (entry.required === false) return;
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && ctx.missingEnvFile === 'report') {
          ctx.report('unsupported', 'env_file', `${scalarText(entry.path)} not found: its variables are not in the converted service`);
          return;
        }
        ctx.fail(p, `cannot read ${scalarText(entry.path)}: ${code === 'ENOENT' ? 'no such file' : code ?? (err as Error).message}`);
      }
    });
  }
  const own = guard(ctx, ['environment'], () => keyValues(raw.environment, (k) => ctx.env[k]));
  Object.assign(env, own);
  for (const k of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(k)) {
      ctx.report('unsupported', 'environment', `variable names Berth cannot set (letters, digits, _, . and - only): dropped ${k}`);
      delete env[k];
    }
  }
  if (Object.keys(env).length) spec.env = env;
}

function convertPorts(raw: ComposeMap, spec: StackServiceSpec, ctx: ServiceContext): void {
  if (!Array.isArray(raw.ports)) {
    if (raw.ports !== undefined && raw.ports !== null) ctx.fail(['ports'], 'must be a list');
    return;
  }
  const ports: ComposePort[] = [];
  raw.ports.forEach((item, i) => {
    const parsed = guard(ctx, ['ports', i], () => (isMap(item) ? longPort(item, ctx) : parseShortPort(item as string)));
    if (parsed) ports.push(...parsed);
  });
  // expose: container ports reachable on the stack's networks, which they all are already.
  if (ports.length) spec.ports = ports;
}

function longPort(p: ComposeMap, ctx: ServiceContext): ComposePort[] {
  const target = Number(p.target);
  if (!Number.isInteger(target) || target < 1 || target > 65535) throw new Error(`target ${JSON.stringify(p.target)} is not a port number`);
  const proto = p.protocol === undefined ? 'tcp' : scalarText(p.protocol).toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') throw new Error(`protocol "${proto}" is not supported (tcp or udp)`);
  if (p.mode === 'ingress') ctx.report('ignored', 'ports.mode', 'ingress: a Berth task publishes its ports on the node it runs on, as mode: host does');
  const published = p.published === undefined || p.published === null ? '' : scalarText(p.published);
  const short = `${p.host_ip ? `${scalarText(p.host_ip).includes(':') ? `[${scalarText(p.host_ip)}]` : scalarText(p.host_ip)}:` : ''}${published ? `${published}:` : ''}${target}/${proto}`;
  if (p.host_ip && !published) return [{ containerPort: target, ...(proto === 'udp' ? { protocol: 'udp' } : {}), hostIp: scalarText(p.host_ip) }];
  return parseShortPort(short);
}

function convertMounts(raw: ComposeMap, spec: StackServiceSpec, ctx: ServiceContext): void {
  const mounts: StackVolumeMount[] = [];
  const volumeName = (source: string, p: ComposePath): string | undefined => {
    const name = ctx.names.volumes.get(source);
    if (!name) ctx.fail(p, `volume "${source}" is not declared in the top-level volumes:`);
    return name;
  };
  const hostPath = (source: string, p: ComposePath): string => {
    if (source.startsWith('./') || source.startsWith('../') || source === '.') {
      ctx.report('warning', 'volumes', 'relative bind mounts resolve on the deploying machine\'s path: they exist only on nodes that have that path');
    }
    if (source.startsWith('~')) return path.join(ctx.homeDir, source.slice(1));
    void p;
    return path.resolve(ctx.project.dir, source);
  };
  if (Array.isArray(raw.volumes)) {
    raw.volumes.forEach((item, i) => {
      const p: ComposePath = ['volumes', i];
      if (typeof item === 'string') {
        const v = guard(ctx, p, () => parseShortVolume(item));
        if (!v) return;
        const ro = v.readOnly ? { readOnly: true } : {};
        if (v.kind === 'anonymous') {
          ctx.report('unsupported', 'volumes', 'anonymous volumes (a container path alone) are not kept by a cluster; name the volume');
        } else if (v.kind === 'bind') mounts.push({ hostPath: hostPath(v.source!, p), target: v.target, ...ro });
        else {
          const name = volumeName(v.source!, p);
          if (name) mounts.push({ name, target: v.target, ...ro });
        }
        return;
      }
      if (!isMap(item) || typeof item.target !== 'string') {
        ctx.fail(p, 'must be SOURCE:TARGET[:ro] or a mapping with type, source and target');
        return;
      }
      const ro = item.read_only === true ? { readOnly: true } : {};
      const type = item.type ?? 'volume';
      if (type === 'bind' && typeof item.source === 'string') mounts.push({ hostPath: hostPath(item.source, p), target: item.target, ...ro });
      else if (type === 'volume' && typeof item.source === 'string') {
        const name = volumeName(item.source, [...p, 'source']);
        if (name) mounts.push({ name, target: item.target, ...ro });
      } else if (type === 'tmpfs') {
        const tm = isMap(item.tmpfs) ? item.tmpfs : {};
        const size = tm.size === undefined ? undefined : guard(ctx, [...p, 'tmpfs', 'size'], () => parseByteSize(tm.size));
        mounts.push({ tmpfs: true, target: item.target, ...(size ? { sizeBytes: size } : {}) });
      } else if (type === 'volume') {
        ctx.report('unsupported', 'volumes', 'anonymous volumes (a container path alone) are not kept by a cluster; name the volume');
      } else ctx.fail([...p, 'type'], `volume type ${JSON.stringify(type)} is not supported (volume, bind or tmpfs)`);
    });
  } else if (raw.volumes !== undefined && raw.volumes !== null) ctx.fail(['volumes'], 'must be a list');
  if (raw.tmpfs !== undefined && raw.tmpfs !== null) {
    const list = Array.isArray(raw.tmpfs) ? raw.tmpfs : [raw.tmpfs];
    list.forEach((t, i) => {
      const [target = '', options = ''] = scalarText(t).split(':');
      const size = /(?:^|,)size=([^,]+)/.exec(options)?.[1];
      const bytes = size === undefined ? undefined : guard(ctx, Array.isArray(raw.tmpfs) ? ['tmpfs', i] : ['tmpfs'], () => parseByteSize(size));
      mounts.push({ tmpfs: true, target, ...(bytes ? { sizeBytes: bytes } : {}) });
    });
  }
  if (mounts.length) spec.volumes = mounts;
}

function convertNetworks(raw: ComposeMap, spec: StackServiceSpec, ctx: ServiceContext): void {
  if (raw.networks === undefined || raw.networks === null) return;
  const entries: [string, unknown][] = Array.isArray(raw.networks) ? raw.networks.map((n) => [scalarText(n), null]) : isMap(raw.networks) ? Object.entries(raw.networks) : [];
  if (!entries.length && !Array.isArray(raw.networks)) ctx.fail(['networks'], 'must be a list or a mapping');
  const out: string[] = [];
  for (const [n, opts] of entries) {
    const name = ctx.names.networks.get(n) ?? (n === 'default' ? `${ctx.stack}_default` : undefined);
    if (!name) {
      ctx.fail(['networks', n], `network "${n}" is not declared in the top-level networks:`);
      continue;
    }
    out.push(name);
    if (isMap(opts)) {
      for (const k of Object.keys(opts)) {
        if (k === 'aliases') ctx.report('unsupported', 'networks.aliases', 'a service is found by its compose service name only');
        else if (k === 'ipv4_address' || k === 'ipv6_address') ctx.report('unsupported', `networks.${k}`, 'tasks get their addresses from the network');
        else ctx.report('unsupported', `networks.${k}`, UNKNOWN_KEY_REASON);
      }
    }
  }
  spec.networks = out;
}

function fileRefs(v: unknown, key: 'secrets' | 'configs', ctx: ServiceContext): StackFileRef[] {
  if (!Array.isArray(v)) {
    ctx.fail([key], 'must be a list');
    return [];
  }
  const out: StackFileRef[] = [];
  v.forEach((item, i) => {
    const source: unknown = isMap(item) ? item.source : item;
    if (typeof source !== 'string') {
      ctx.fail([key, i], 'must be a name or a mapping with source');
      return;
    }
    const name = ctx.names[key].get(source);
    if (!name) {
      ctx.fail([key, i], `${key.slice(0, -1)} "${source}" is not declared in the top-level ${key}:`);
      return;
    }
    const ref: StackFileRef = { source: name };
    if (isMap(item)) {
      if (typeof item.target === 'string') ref.target = item.target;
      if (item.mode !== undefined) {
        const mode = typeof item.mode === 'string' ? parseInt(item.mode, 8) : Number(item.mode);
        if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) ctx.fail([key, i, 'mode'], `${JSON.stringify(item.mode)} is not a file mode`);
        else ref.mode = mode;
      }
      if (item.uid !== undefined || item.gid !== undefined) ctx.report('ignored', `${key}.uid/gid`, 'files are owned by root and readable per mode');
    } else if (key === 'secrets') ref.target = `/run/secrets/${source}`;
    else ref.target = `/${source}`;
    if (isMap(item) && ref.target === undefined) ref.target = key === 'secrets' ? `/run/secrets/${source}` : `/${source}`;
    if (ref.target && !ref.target.startsWith('/')) ref.target = key === 'secrets' ? `/run/secrets/${ref.target}` : `/${ref.target}`;
    out.push(ref);
  });
  return out;
}

function healthCheck(v: unknown, ctx: ServiceContext): HealthCheckSpec | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isMap(v)) throw new Error('must be a mapping');
  if (v.disable === true) return undefined;
  const test = v.test;
  let command: string[];
  if (typeof test === 'string') command = ['/bin/sh', '-c', test];
  else if (Array.isArray(test) && test.length) {
    const [kind, ...rest] = test.map(String);
    if (kind === 'NONE') return undefined;
    if (kind === 'CMD') command = rest;
    else if (kind === 'CMD-SHELL') command = ['/bin/sh', '-c', rest.join(' ')];
    else throw new Error(`test must start with CMD, CMD-SHELL or NONE, not ${JSON.stringify(kind)}`);
  } else if (test === undefined) {
    ctx.report('unsupported', 'healthcheck', 'a health check without test: (the image\'s own) is not run by Berth');
    return undefined;
  } else throw new Error('test must be a string or a list');
  if (!command.length) throw new Error('test has no command');
  const hc: HealthCheckSpec = { exec: { command } };
  const seconds = (key: string) => {
    const d = parseDuration(v[key]);
    if (d <= 0) throw new Error(`${key} must be more than 0`);
    return d;
  };
  if (v.interval !== undefined) hc.intervalSeconds = seconds('interval');
  if (v.timeout !== undefined) hc.timeoutSeconds = seconds('timeout');
  if (v.start_period !== undefined) hc.startPeriodSeconds = parseDuration(v.start_period);
  if (v.retries !== undefined) {
    const r = Number(v.retries);
    if (!Number.isInteger(r) || r < 1) throw new Error(`retries ${JSON.stringify(v.retries)} must be a whole number >= 1`);
    hc.failureThreshold = r;
  }
  if (v.start_interval !== undefined) ctx.report('ignored', 'healthcheck.start_interval', 'probes keep the interval during the start period');
  return hc;
}

function dependsOn(v: unknown, ctx: ServiceContext): DependsOnSpec[] {
  if (v === undefined || v === null) return [];
  const entries: [string, unknown][] = Array.isArray(v) ? v.map((s) => [scalarText(s), null]) : isMap(v) ? Object.entries(v) : [];
  const conditions: Record<string, DependsOnSpec['condition']> = {
    service_started: 'started',
    service_healthy: 'healthy',
    service_completed_successfully: 'completed',
  };
  const out: DependsOnSpec[] = [];
  for (const [service, opts] of entries) {
    if (!ctx.services.includes(service)) {
      ctx.fail(['depends_on', service], `service "${service}" is not defined in services:`);
      continue;
    }
    const raw = isMap(opts) ? opts.condition : undefined;
    const condition = raw === undefined ? 'started' : conditions[scalarText(raw)];
    if (!condition) {
      ctx.fail(['depends_on', service, 'condition'], `${JSON.stringify(raw)} is not service_started, service_healthy or service_completed_successfully`);
      continue;
    }
    if (isMap(opts) && (opts.restart !== undefined || opts.required !== undefined)) {
      ctx.report('ignored', 'depends_on.restart/required', 'only the start order and its condition are kept');
    }
    out.push({ service, condition });
  }
  return out;
}

function convertContainer(raw: ComposeMap, spec: StackServiceSpec, ctx: ServiceContext): void {
  const str = (key: string) => (raw[key] === undefined || raw[key] === null ? undefined : scalarText(raw[key]));
  const bool = (key: string) => {
    if (raw[key] === undefined || raw[key] === null) return undefined;
    if (typeof raw[key] !== 'boolean') ctx.fail([key], 'must be true or false');
    return raw[key] === true;
  };
  const user = str('user');
  if (user) spec.user = user;
  const wd = str('working_dir');
  if (wd) spec.workingDir = wd;
  const host = str('hostname');
  if (host) spec.hostname = host;
  const init = bool('init');
  if (init !== undefined) spec.init = init;
  const tty = bool('tty');
  if (tty !== undefined) spec.tty = tty;
  const ro = bool('read_only');
  if (ro !== undefined) spec.readOnly = ro;
  for (const [key, field] of [['cap_add', 'capAdd'], ['cap_drop', 'capDrop']] as const) {
    if (raw[key] === undefined || raw[key] === null) continue;
    if (!Array.isArray(raw[key])) ctx.fail([key], 'must be a list');
    else spec[field] = raw[key].map((c) => scalarText(c).toUpperCase());
  }
  if (raw.sysctls !== undefined && raw.sysctls !== null) {
    const s = guard(ctx, ['sysctls'], () => keyValues(raw.sysctls, () => undefined));
    if (s && Object.keys(s).length) spec.sysctls = s;
  }
  if (raw.ulimits !== undefined && raw.ulimits !== null) {
    if (!isMap(raw.ulimits)) ctx.fail(['ulimits'], 'must be a mapping');
    else {
      const list: UlimitSpec[] = [];
      for (const [name, v] of Object.entries(raw.ulimits)) {
        const soft = Number(isMap(v) ? v.soft : v);
        const hard = Number(isMap(v) ? v.hard : v);
        if (!Number.isInteger(soft) || !Number.isInteger(hard)) ctx.fail(['ulimits', name], 'must be a number or a mapping with soft and hard');
        else if (hard !== -1 && soft > hard) ctx.fail(['ulimits', name], `soft ${soft} is above hard ${hard}`);
        else list.push({ name, soft, hard });
      }
      if (list.length) spec.ulimits = list;
    }
  }
  const grace = raw.stop_grace_period;
  if (grace !== undefined && grace !== null) {
    const s = guard(ctx, ['stop_grace_period'], () => parseDuration(grace));
    if (s !== undefined) spec.stopGracePeriodSeconds = s;
  }
  const sig = str('stop_signal');
  if (sig) spec.stopSignal = sig.toUpperCase();
  if (isMap(raw.logging)) {
    const driver = raw.logging.driver;
    const options = guard(ctx, ['logging', 'options'], () => keyValues(raw.logging && isMap(raw.logging) ? raw.logging.options : undefined, () => undefined));
    if (typeof driver === 'string') spec.logging = { driver, ...(options && Object.keys(options).length ? { options } : {}) };
    else if (options && Object.keys(options).length) spec.logging = { driver: 'json-file', options };
  } else if (raw.logging !== undefined && raw.logging !== null) ctx.fail(['logging'], 'must be a mapping with driver and options');
  if (raw.labels !== undefined && raw.labels !== null) {
    const l = guard(ctx, ['labels'], () => keyValues(raw.labels, () => ''));
    if (l && Object.keys(l).length) spec.containerLabels = l;
  }
  const pull = str('pull_policy');
  if (pull) {
    const map: Record<string, StackServiceSpec['pullPolicy']> = { always: 'always', never: 'never', missing: 'if-not-present', if_not_present: 'if-not-present' };
    if (map[pull]) spec.pullPolicy = map[pull];
    else ctx.report('ignored', 'pull_policy', `"${pull}": images are pulled when missing`);
  }
  const cpus = raw.cpus;
  if (cpus !== undefined && cpus !== null) spec.resources = { ...spec.resources, cpu: scalarText(Number(cpus)) };
  if (raw.mem_limit !== undefined && raw.mem_limit !== null) {
    const b = guard(ctx, ['mem_limit'], () => parseByteSize(raw.mem_limit));
    if (b) spec.resources = { ...spec.resources, memory: formatBytes(b) };
  }
  if (raw.scale !== undefined && raw.scale !== null) {
    const n = Number(raw.scale);
    if (!Number.isInteger(n) || n < 0) ctx.fail(['scale'], 'must be a whole number >= 0');
    else spec.replicas = n;
  }
}

function convertDeploy(raw: ComposeMap, spec: StackServiceSpec, ctx: ServiceContext): void {
  const deploy = raw.deploy === undefined || raw.deploy === null ? {} : raw.deploy;
  if (!isMap(deploy)) {
    ctx.fail(['deploy'], 'must be a mapping');
    return;
  }
  for (const key of Object.keys(deploy)) {
    if (!HONOURED_DEPLOY_KEYS.has(key)) {
      const reason = key === 'rollback_config' ? 'a rollback returns to the previous revision with the update settings' : UNKNOWN_KEY_REASON;
      ctx.report(key === 'rollback_config' ? 'ignored' : 'unsupported', `deploy.${key}`, reason);
    }
  }
  const mode = deploy.mode === undefined ? 'replicated' : scalarText(deploy.mode);
  const replicas = deploy.replicas === undefined || deploy.replicas === null ? undefined : Number(deploy.replicas);
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 0)) ctx.fail(['deploy', 'replicas'], `${JSON.stringify(deploy.replicas)} must be a whole number >= 0`);
  if (mode === 'replicated') {
    if (replicas !== undefined) spec.replicas = replicas;
  } else if (mode === 'global') {
    spec.mode = 'global';
    delete spec.replicas;
  } else if (mode === 'replicated-job' || mode === 'global-job') {
    spec.mode = 'job';
    delete spec.replicas;
    if (mode === 'global-job') {
      ctx.report('unsupported', 'deploy.mode', 'global-job: Berth jobs run a number of completions, not one per node; converted as a job with one completion');
    } else {
      spec.completions = Math.max(1, replicas ?? 1);
      const max = deploy.max_concurrent ?? undefined;
      spec.parallelism = max === undefined ? spec.completions : Number(max);
    }
  } else ctx.fail(['deploy', 'mode'], `"${mode}" is not replicated, global, replicated-job or global-job`);
  if (deploy.endpoint_mode !== undefined && deploy.endpoint_mode !== 'vip') {
    ctx.report('unsupported', 'deploy.endpoint_mode', `"${scalarText(deploy.endpoint_mode)}": a service name resolves as Berth networking resolves it`);
  }
  convertPlacement(deploy, spec, ctx);
  convertResources(deploy, spec, ctx);
  const restart = restartPolicy(raw.restart, deploy.restart_policy, spec.mode === 'job', ctx);
  if (restart) spec.restartPolicy = restart;
  if (deploy.update_config !== undefined && deploy.update_config !== null) {
    if (spec.mode === 'job') ctx.report('ignored', 'deploy.update_config', 'a changed job runs again from the start');
    else {
      const u = guard(ctx, ['deploy', 'update_config'], () => updateConfig(deploy.update_config, ctx));
      if (u && Object.keys(u).length) spec.update = u;
    }
  }
}

function convertPlacement(deploy: ComposeMap, spec: StackServiceSpec, ctx: ServiceContext): void {
  const pl = deploy.placement;
  if (pl === undefined || pl === null) return;
  if (!isMap(pl)) {
    ctx.fail(['deploy', 'placement'], 'must be a mapping');
    return;
  }
  const constraints: string[] = [];
  const list = Array.isArray(pl.constraints) ? pl.constraints : [];
  list.forEach((c, i) => {
    const m = /^\s*([\w.\-/]+)\s*(==|!=)\s*(\S+)\s*$/.exec(scalarText(c));
    if (!m) {
      ctx.fail(['deploy', 'placement', 'constraints', i], `${JSON.stringify(c)} is not FIELD ==|!= VALUE`);
      return;
    }
    const [, field, op, value] = m as unknown as [string, string, string, string];
    if (field === 'node.hostname' || field === 'node.name') constraints.push(`node.name ${op} ${value}`);
    else if (field === 'node.id' || field.startsWith('node.labels.')) constraints.push(`${field} ${op} ${value}`);
    else if (field === 'node.platform.os') {
      if ((op === '==') !== (value.toLowerCase() === 'linux')) ctx.report('unsupported', 'deploy.placement.constraints', `${scalarText(c)}: every Berth node runs linux containers`);
    } else if (field === 'node.role') {
      ctx.report('ignored', 'deploy.placement.constraints', `${scalarText(c)}: every Berth node runs tasks; the control plane is apart`);
    } else ctx.report('unsupported', 'deploy.placement.constraints', `${scalarText(c)}: Berth places on node.name, node.id and node.labels.*`);
  });
  if (constraints.length) spec.placement = { constraints };
  if (pl.max_replicas_per_node !== undefined) {
    const n = Number(pl.max_replicas_per_node);
    if (!Number.isInteger(n) || n < 0) ctx.fail(['deploy', 'placement', 'max_replicas_per_node'], 'must be a whole number >= 0');
    else spec.placement = { ...spec.placement, maxPerNode: n };
  }
  for (const k of Object.keys(pl)) {
    if (k !== 'constraints' && k !== 'max_replicas_per_node') ctx.report('unsupported', `deploy.placement.${k}`, 'Berth spreads tasks over nodes itself');
  }
}

function convertResources(deploy: ComposeMap, spec: StackServiceSpec, ctx: ServiceContext): void {
  const res = deploy.resources;
  if (res === undefined || res === null) return;
  if (!isMap(res)) {
    ctx.fail(['deploy', 'resources'], 'must be a mapping');
    return;
  }
  const limits = isMap(res.limits) ? res.limits : {};
  const reservations = isMap(res.reservations) ? res.reservations : {};
  const pick = (key: 'cpus' | 'memory') => (limits[key] !== undefined ? ['limits', limits[key]] : reservations[key] !== undefined ? ['reservations', reservations[key]] : undefined);
  const cpu = pick('cpus');
  if (cpu) {
    const n = Number(cpu[1]);
    if (!Number.isFinite(n) || n <= 0) ctx.fail(['deploy', 'resources', cpu[0] as string, 'cpus'], `${JSON.stringify(cpu[1])} is not a number of CPUs`);
    else spec.resources = { ...spec.resources, cpu: scalarText(n) };
  }
  const mem = pick('memory');
  if (mem) {
    const b = guard(ctx, ['deploy', 'resources', mem[0] as string, 'memory'], () => parseByteSize(mem[1]));
    if (b) spec.resources = { ...spec.resources, memory: formatBytes(b) };
  }
  if ((limits.cpus !== undefined && reservations.cpus !== undefined) || (limits.memory !== undefined && reservations.memory !== undefined)) {
    ctx.report('ignored', 'deploy.resources.reservations', 'Berth reserves what it limits: the limits are used for both');
  }
  for (const [part, m] of [['limits', limits], ['reservations', reservations]] as const) {
    for (const k of Object.keys(m)) if (k !== 'cpus' && k !== 'memory') ctx.report('unsupported', `deploy.resources.${part}.${k}`, 'Berth limits cpus and memory only');
  }
}

function restartPolicy(restart: unknown, policy: unknown, job: boolean, ctx: ServiceContext): RestartPolicySpec | undefined {
  let out: RestartPolicySpec | undefined;
  if (restart !== undefined && restart !== null) {
    const s = scalarText(restart);
    const m = /^on-failure(?::(\d+))?$/.exec(s);
    if (s === 'no' || s === 'false') out = { condition: 'none' };
    else if (s === 'always' || s === 'unless-stopped') out = { condition: 'any' };
    else if (m) out = { condition: 'on-failure', ...(m[1] ? { maxAttempts: Number(m[1]) } : {}) };
    else ctx.fail(['restart'], `"${s}" is not no, always, on-failure[:N] or unless-stopped`);
  }
  if (isMap(policy)) {
    // deploy.restart_policy wins over restart:, as under Swarm.
    out = {};
    const cond = policy.condition;
    if (cond !== undefined) {
      if (cond === 'any' || cond === 'on-failure' || cond === 'none') out.condition = cond;
      else ctx.fail(['deploy', 'restart_policy', 'condition'], `${JSON.stringify(cond)} is not none, on-failure or any`);
    }
    if (policy.delay !== undefined) out.delaySeconds = guard(ctx, ['deploy', 'restart_policy', 'delay'], () => parseDuration(policy.delay));
    if (policy.max_attempts !== undefined) {
      const n = Number(policy.max_attempts);
      if (!Number.isInteger(n) || n < 0) ctx.fail(['deploy', 'restart_policy', 'max_attempts'], 'must be a whole number >= 0');
      else out.maxAttempts = n;
    }
    if (policy.window !== undefined) ctx.report('ignored', 'deploy.restart_policy.window', 'every failed attempt counts toward max_attempts');
  }
  // A job's tasks run to completion: "always" means "again if it failed".
  if (job && out?.condition === 'any') out.condition = 'on-failure';
  if (out && !Object.keys(out).length) return undefined;
  return out;
}

function updateConfig(v: unknown, ctx: ServiceContext): UpdateSpec {
  if (!isMap(v)) throw new Error('must be a mapping');
  const u: UpdateSpec = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'parallelism') u.parallelism = Number(x);
    else if (k === 'delay') u.delaySeconds = parseDuration(x);
    else if (k === 'monitor') u.monitorSeconds = parseDuration(x);
    else if (k === 'max_failure_ratio') u.maxFailureRatio = Number(x);
    else if (k === 'failure_action') {
      if (x !== 'pause' && x !== 'rollback' && x !== 'continue') throw new Error(`failure_action ${JSON.stringify(x)} is not pause, continue or rollback`);
      u.failureAction = x;
    } else if (k === 'order') {
      if (x !== 'stop-first' && x !== 'start-first') throw new Error(`order ${JSON.stringify(x)} is not stop-first or start-first`);
      u.order = x;
    } else ctx.report('unsupported', `deploy.update_config.${k}`, UNKNOWN_KEY_REASON);
  }
  return u;
}
