// What `berth diff` computes: the field-by-field change from the stored object to a manifest,
// over what apply compares (metadata.labels and spec). Pure: two plain objects in, a list of
// changes out; formatting lines is separate from computing them.
import { isDeepStrictEqual } from 'node:util';
import type { Service } from '../common/types.js';

export const ChangeKind = { Added: 'added', Removed: 'removed', Changed: 'changed' } as const;
export type ChangeKind = (typeof ChangeKind)[keyof typeof ChangeKind];

export interface FieldChange {
  /** `spec.replicas`, `spec.env.FOO`, `spec.ports[0].containerPort`. */
  path: string;
  kind: ChangeKind;
  from?: unknown;
  to?: unknown;
}

export const DiffAction = { Created: 'created', Configured: 'configured', Unchanged: 'unchanged' } as const;
export type DiffAction = (typeof DiffAction)[keyof typeof DiffAction];

export interface ServiceDiff {
  name: string;
  action: DiffAction;
  changes: FieldChange[];
}

/** The parts apply compares: labels (absent = none) and the spec. */
function comparable(svc: Pick<Service, 'metadata' | 'spec'>): Record<string, unknown> {
  const labels = svc.metadata.labels ?? {};
  return { ...(Object.keys(labels).length ? { metadata: { labels } } : {}), spec: svc.spec };
}

export function diffService(current: Pick<Service, 'metadata' | 'spec'> | undefined, wanted: Service): ServiceDiff {
  const name = wanted.metadata.name;
  const changes = diffValues(current ? comparable(current) : undefined, comparable(wanted));
  if (!current) return { name, action: DiffAction.Created, changes };
  return { name, action: changes.length ? DiffAction.Configured : DiffAction.Unchanged, changes };
}

/** Leaf-level changes; an object or array on one side only is expanded into its leaves. */
export function diffValues(from: unknown, to: unknown, path = ''): FieldChange[] {
  if (isDeepStrictEqual(from, to)) return [];
  if (isContainer(from) && isContainer(to) && Array.isArray(from) === Array.isArray(to)) {
    const keys = Array.isArray(from)
      ? [...Array(Math.max(from.length, (to as unknown[]).length)).keys()].map(String)
      : [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
    return keys.flatMap((k) => {
      const a = (from as Record<string, unknown>)[k];
      const b = (to as Record<string, unknown>)[k];
      return diffValues(a, b, join(path, k, Array.isArray(from)));
    });
  }
  if (from === undefined) return leaves(to, path).map(([p, v]) => ({ path: p, kind: ChangeKind.Added, to: v }));
  if (to === undefined) return leaves(from, path).map(([p, v]) => ({ path: p, kind: ChangeKind.Removed, from: v }));
  if (isContainer(from) || isContainer(to)) {
    // A type change (scalar <-> object/array): show the old leaves removed and the new ones added.
    return [...diffValues(from, undefined, path), ...diffValues(undefined, to, path)];
  }
  return [{ path, kind: ChangeKind.Changed, from, to }];
}

function leaves(v: unknown, path: string): [string, unknown][] {
  if (!isContainer(v)) return [[path, v]];
  const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return [[path, v]];
  return entries.flatMap(([k, x]) => leaves(x, join(path, k, Array.isArray(v))));
}

function join(path: string, key: string, index: boolean): string {
  if (index) return `${path}[${key}]`;
  const part = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
  return path ? `${path}.${part}` : part;
}

function isContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  return typeof v === 'object' && v !== null;
}

/** `spec.replicas: 3 -> 6`, `+ spec.env.FOO: "bar"`, `- spec.env.OLD: "x"`. */
export function formatChange(c: FieldChange): string {
  switch (c.kind) {
    case ChangeKind.Added:
      return `+ ${c.path}: ${show(c.to)}`;
    case ChangeKind.Removed:
      return `- ${c.path}: ${show(c.from)}`;
    case ChangeKind.Changed:
      return `${c.path}: ${show(c.from)} -> ${show(c.to)}`;
  }
}

function show(v: unknown): string {
  return JSON.stringify(v) ?? 'null';
}

/** The lines `berth diff` prints for one service; none when it is unchanged. */
export function formatServiceDiff(d: ServiceDiff): string[] {
  if (d.action === DiffAction.Unchanged) return [];
  return [`service/${d.name} ${d.action === DiffAction.Created ? 'created' : 'changed'}`, ...d.changes.map((c) => `  ${formatChange(c)}`)];
}
