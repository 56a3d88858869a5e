// What changed between two revisions, in one short line for `rollout history`:
// `image berth/web:1 -> berth/web:2; env GREETING; healthCheck`.
import { isDeepStrictEqual } from 'node:util';
import type { ServiceSpec } from '../../common/types.js';

/** The part of a spec a revision is of: everything but the scale. */
export function templateOf(spec: ServiceSpec): Omit<ServiceSpec, 'replicas'> {
  const { replicas: _r, ...rest } = spec;
  return rest;
}

export function summarizeChange(prev: ServiceSpec | undefined, next: ServiceSpec, restarted = false): string {
  if (!prev) return `image ${next.image}`;
  const parts: string[] = [];
  if (prev.image !== next.image) parts.push(`image ${prev.image} -> ${next.image}`);
  const a = prev.env ?? {};
  const b = next.env ?? {};
  const envKeys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort();
  if (envKeys.length) parts.push(`env ${envKeys.join(', ')}`);
  const fields = new Set([...Object.keys(templateOf(prev)), ...Object.keys(templateOf(next))]);
  for (const f of [...fields].sort()) {
    if (f === 'image' || f === 'env') continue;
    const k = f as keyof ServiceSpec;
    if (!isDeepStrictEqual(prev[k], next[k])) parts.push(f);
  }
  if (restarted) parts.push('restart');
  return parts.join('; ') || 'no change';
}
