// Validation of Service manifests, shared by the CLI (before anything is sent) and the API
// (before anything is written). Every problem is reported as a field path and a reason.
import { Ajv, type ErrorObject } from 'ajv';
import { parseConstraint } from '../constraints.js';
import type { FieldIssue } from '../errors.js';
import { parseCpu, parseMemory } from '../quantity.js';
import type { Service } from '../types.js';
import { serviceSchema } from './schema.js';
import { hostPortOf, publishedPortIssues } from '../ports.js';
import { DEFAULT_BIND_ALLOW, bindRefusal, configTarget, modeRefusal, secretTarget } from '../workloads.js';

const ajv = new Ajv({ allErrors: true, strict: false });
const checkSchema = ajv.compile(serviceSchema);

export interface ValidateOptions {
  /** Host paths bind mounts may use (default DEFAULT_BIND_ALLOW). */
  bindAllow?: readonly string[];
}

/** Every problem with one manifest object; empty when it is a valid Service. */
export function validateService(obj: unknown, opts: ValidateOptions = {}): FieldIssue[] {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
    return [{ path: '', reason: 'must be a mapping with apiVersion, kind, metadata and spec' }];
  }
  const o = obj as Record<string, unknown>;
  if (o.kind !== undefined && o.kind !== 'Service') {
    return [{ path: 'kind', reason: `unknown kind ${JSON.stringify(o.kind)} (supported: Service)` }];
  }
  if (checkSchema(obj)) return [...semanticIssues(obj), ...workloadIssues(obj, opts.bindAllow ?? DEFAULT_BIND_ALLOW)];
  return dedupe((checkSchema.errors ?? []).map(toIssue));
}

/** Rules beyond the schema: quantities, constraints, one probe kind, mode-specific fields. */
function semanticIssues(svc: Service): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const spec = svc.spec;
  const cpu = spec.resources?.cpu;
  if (cpu !== undefined && parseCpu(cpu) === undefined) {
    issues.push({ path: 'spec.resources.cpu', reason: `invalid CPU quantity ${JSON.stringify(cpu)} (use e.g. 250m, 0.5 or 2)` });
  }
  const mem = spec.resources?.memory;
  if (mem !== undefined && parseMemory(mem) === undefined) {
    issues.push({ path: 'spec.resources.memory', reason: `invalid memory quantity ${JSON.stringify(mem)} (use e.g. 64Mi, 1Gi or 500M)` });
  }
  const hc = spec.healthCheck;
  if (hc) {
    const kinds = (['http', 'tcp', 'exec'] as const).filter((k) => hc[k] !== undefined);
    if (kinds.length !== 1) {
      issues.push({ path: 'spec.healthCheck', reason: `must have exactly one of http, tcp, exec (found ${kinds.length ? kinds.join(', ') : 'none'})` });
    }
  }
  (spec.placement?.constraints ?? []).forEach((c, i) => {
    const parsed = parseConstraint(c);
    if (typeof parsed === 'string') issues.push({ path: `spec.placement.constraints[${i}]`, reason: parsed });
  });
  if (spec.mode === 'global' && spec.replicas !== undefined) {
    issues.push({ path: 'spec.replicas', reason: 'not allowed with mode global (one task runs on every eligible node)' });
  }
  if (spec.mode === 'job') {
    if (spec.replicas !== undefined) issues.push({ path: 'spec.replicas', reason: 'not allowed with mode job (use completions and parallelism)' });
    if (spec.restartPolicy?.condition === 'any') {
      issues.push({ path: 'spec.restartPolicy.condition', reason: 'a job\'s tasks run to completion: use on-failure (the default for jobs) or none' });
    }
    if (spec.update !== undefined) issues.push({ path: 'spec.update', reason: 'not allowed with mode job (a changed job runs again from the start)' });
  } else {
    for (const field of ['completions', 'parallelism'] as const) {
      if (spec[field] !== undefined) issues.push({ path: `spec.${field}`, reason: 'only allowed with mode job' });
    }
  }
  const limits = new Set<string>();
  (spec.ulimits ?? []).forEach((u, i) => {
    if (limits.has(u.name)) issues.push({ path: `spec.ulimits[${i}].name`, reason: `duplicate ulimit "${u.name}"` });
    limits.add(u.name);
    if (u.hard !== -1 && (u.soft === -1 || u.soft > u.hard)) issues.push({ path: `spec.ulimits[${i}].soft`, reason: `soft limit ${u.soft} is above the hard limit ${u.hard}` });
  });
  const seen = new Map<string, number>();
  (spec.ports ?? []).forEach((p, i) => {
    const key = `${p.containerPort}/${p.protocol ?? 'tcp'}`;
    if (seen.has(key)) issues.push({ path: `spec.ports[${i}].containerPort`, reason: `duplicate of spec.ports[${seen.get(key)}] (${key})` });
    seen.set(key, i);
  });
  const hostSeen = new Map<string, number>();
  (spec.ports ?? []).forEach((p, i) => {
    const hp = hostPortOf(p);
    if (!hp) return;
    const key = `${hp}/${p.protocol ?? 'tcp'}`;
    const field = p.hostPort ? 'hostPort' : 'publishedPort';
    if (hostSeen.has(key)) issues.push({ path: `spec.ports[${i}].${field}`, reason: `host port ${key} already used by spec.ports[${hostSeen.get(key)}]` });
    hostSeen.set(key, i);
  });
  issues.push(...publishedPortIssues(spec.ports ?? []));
  return issues;
}

/** Volumes, secrets and configs: one kind per volume, allowed host paths, distinct targets, file modes. */
function workloadIssues(svc: Service, bindAllow: readonly string[]): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const targets = new Map<string, string>();
  const claim = (target: string, at: string) => {
    const first = targets.get(target);
    if (first) issues.push({ path: at, reason: `target ${target} is already used by ${first}` });
    else targets.set(target, at.replace(/\.target$/, ''));
  };
  (svc.spec.volumes ?? []).forEach((v, i) => {
    const at = `spec.volumes[${i}]`;
    const kinds = (['name', 'hostPath', 'tmpfs'] as const).filter((k) => (k === 'tmpfs' ? v.tmpfs === true : v[k] !== undefined));
    if (kinds.length !== 1) {
      issues.push({ path: at, reason: `must have exactly one of name, hostPath, tmpfs: true (found ${kinds.length ? kinds.join(', ') : 'none'})` });
    }
    if (v.hostPath !== undefined) {
      const why = bindRefusal(v.hostPath, bindAllow);
      if (why) issues.push({ path: `${at}.hostPath`, reason: why });
    }
    if (v.sizeBytes !== undefined && !v.tmpfs) issues.push({ path: `${at}.sizeBytes`, reason: 'only a tmpfs volume has a size' });
    claim(v.target, `${at}.target`);
  });
  for (const [field, target] of [['secrets', secretTarget], ['configs', configTarget]] as const) {
    const sources = new Set<string>();
    (svc.spec[field] ?? []).forEach((s, i) => {
      const at = `spec.${field}[${i}]`;
      if (sources.has(s.source)) issues.push({ path: `${at}.source`, reason: `${field.slice(0, -1)} ${s.source} is listed twice` });
      sources.add(s.source);
      if (s.mode !== undefined) {
        const why = modeRefusal(s.mode);
        if (why) issues.push({ path: `${at}.mode`, reason: why });
      }
      claim(target(s), `${at}.target`);
    });
  }
  return issues;
}

function toIssue(e: ErrorObject): FieldIssue {
  const base = pointerToPath(e.instancePath);
  const join = (child: string) => (base ? `${base}.${child}` : child);
  switch (e.keyword) {
    case 'additionalProperties':
      return { path: join(String(e.params.additionalProperty)), reason: 'unknown field' };
    case 'required':
      return { path: join(String(e.params.missingProperty)), reason: 'required field is missing' };
    case 'const':
      return { path: base, reason: `must be ${JSON.stringify(e.params.allowedValue)}` };
    case 'enum':
      return { path: base, reason: `must be one of: ${(e.params.allowedValues as unknown[]).join(', ')}` };
    case 'propertyNames':
      return { path: join(String(e.params.propertyName)), reason: 'invalid key' };
    case 'pattern':
      if (base === 'metadata.name') {
        return { path: base, reason: 'must be a DNS label: lowercase letters, digits and "-", starting and ending with a letter or digit' };
      }
      return { path: base, reason: `must match ${String(e.params.pattern)}` };
    default:
      return { path: base, reason: e.message ?? 'invalid' };
  }
}

/** `/spec/ports/0/containerPort` -> `spec.ports[0].containerPort` */
export function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out ? `.${part}` : part;
  }
  return out;
}

function dedupe(issues: FieldIssue[]): FieldIssue[] {
  const seen = new Set<string>();
  // propertyNames failures also produce a pattern error on the key itself: keep one.
  return issues.filter((i) => {
    const k = `${i.path}\u0000${i.reason}`;
    if (seen.has(k) || (i.reason.startsWith('must match') && issues.some((j) => j.reason === 'invalid key' && j.path.startsWith(i.path)))) {
      return false;
    }
    seen.add(k);
    return true;
  });
}
