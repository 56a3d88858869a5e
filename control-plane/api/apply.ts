// Create-or-update of services, all or nothing: every document is validated first, then all
// changes are written in one etcd transaction conditional on the versions just read (or the
// versions the client sent). A spec identical to the stored one writes nothing.
import { isDeepStrictEqual } from 'node:util';
import { ConflictError, ValidationError, type FieldIssue } from '../../common/errors.js';
import { validateService } from '../../common/manifest/validate.js';
import type { Service } from '../../common/types.js';
import { keys } from '../store/keys.js';
import { MAX_TXN_OPS, type Store, type WriteOp } from '../store/store.js';

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export interface ApplyResult {
  kind: 'Service';
  name: string;
  action: ApplyAction;
  version: number;
}

export async function applyServices(store: Store, items: unknown[], opts: { dryRun?: boolean } = {}): Promise<ApplyResult[]> {
  const issues: FieldIssue[] = [];
  items.forEach((item, index) => {
    for (const issue of validateService(item)) issues.push({ ...issue, index });
  });
  const seen = new Map<string, number>();
  items.forEach((item, index) => {
    const name = (item as Service | undefined)?.metadata?.name;
    if (typeof name !== 'string') return;
    const first = seen.get(name);
    if (first !== undefined) issues.push({ index, path: 'metadata.name', reason: `duplicate service name "${name}" (also items[${first}])` });
    else seen.set(name, index);
  });
  if (items.length > MAX_TXN_OPS) issues.push({ path: 'items', reason: `at most ${MAX_TXN_OPS} objects per apply` });
  if (issues.length) {
    throw new ValidationError(issues.map((i) => ({ ...i, source: i.index !== undefined ? `items[${i.index}]` : '' })));
  }

  const services = items as Service[];
  const existing = await Promise.all(services.map((s) => store.get<Service>(keys.service(s.metadata.name))));
  const now = new Date().toISOString();
  const ops: WriteOp[] = [];
  const results: ApplyResult[] = [];
  services.forEach((svc, i) => {
    const name = svc.metadata.name;
    const cur = existing[i];
    const wanted = svc.metadata.version;
    if (wanted !== undefined && cur?.metadata.version !== wanted) {
      throw new ConflictError(keys.service(name), `service "${name}": version ${wanted} is not the current version (${cur?.metadata.version ?? 'none'})`);
    }
    const labels = svc.metadata.labels ?? {};
    if (cur && isDeepStrictEqual(cur.spec, svc.spec) && isDeepStrictEqual(cur.metadata.labels ?? {}, labels)) {
      results.push({ kind: 'Service', name, action: 'unchanged', version: cur.metadata.version ?? 0 });
      return;
    }
    const stored: Service = {
      apiVersion: 'berth/v1',
      kind: 'Service',
      metadata: { name, labels, createdAt: cur?.metadata.createdAt ?? now, updatedAt: now },
      spec: svc.spec,
    };
    ops.push(cur ? { type: 'put', key: keys.service(name), value: stored, version: cur.metadata.version! } : { type: 'create', key: keys.service(name), value: stored });
    results.push({ kind: 'Service', name, action: cur ? 'configured' : 'created', version: 0 });
  });
  if (opts.dryRun || ops.length === 0) return results;
  try {
    const revision = await store.txn(ops);
    for (const r of results) if (r.action !== 'unchanged') r.version = revision;
  } catch (err) {
    if (err instanceof ConflictError) {
      throw new ConflictError(err.key, `${err.key.replace(/^services\//, 'service ')} changed while applying; re-run apply`);
    }
    throw err;
  }
  return results;
}
