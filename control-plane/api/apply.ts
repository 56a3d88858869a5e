// Create-or-update of services, all or nothing: every document is validated first, then all
// changes are written in one etcd transaction conditional on the versions just read (or the
// versions the client sent). A spec identical to the stored one writes nothing.
import { isDeepStrictEqual } from 'node:util';
import { ConflictError, ValidationError, type FieldIssue } from '../../common/errors.js';
import { validateService } from '../../common/manifest/validate.js';
import { DEFAULT_NETWORK } from '../../common/networks.js';
import { publishedPortClashes } from '../../common/ports.js';
import type { Service } from '../../common/types.js';
import { keys } from '../store/keys.js';
import { configKeys } from '../secrets/configs.js';
import { secretKeys } from '../secrets/secrets.js';
import { MAX_TXN_OPS, type Store, type WriteOp } from '../store/store.js';
import { ChangeCause, listRevisions, needsRevision, pruneRevisions, revisionWrite } from '../rollout/revisions.js';

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export interface ApplyResult {
  kind: 'Service';
  name: string;
  action: ApplyAction;
  version: number;
}

/** A service may only ask for secrets and configs that exist: refused at apply, not found missing on a node. */
async function checkFilesExist(store: Store, services: Service[]): Promise<void> {
  const issues: FieldIssue[] = [];
  for (const [field, key] of [['secrets', secretKeys.secret], ['configs', configKeys.config]] as const) {
    const kind = field.slice(0, -1);
    const names = [...new Set(services.flatMap((s) => (s.spec[field] ?? []).map((r) => r.source)))];
    if (!names.length) continue;
    const found = await Promise.all(names.map((n) => store.get(key(n))));
    const missing = new Set(names.filter((_, i) => !found[i]));
    services.forEach((s, index) =>
      (s.spec[field] ?? []).forEach((r, i) => {
        if (missing.has(r.source)) issues.push({ index, path: `spec.${field}[${i}].source`, reason: `${kind} "${r.source}" does not exist (create it with: berth ${kind} create ${r.source} -f FILE)` });
      }),
    );
  }
  if (issues.length) throw new ValidationError(issues.map((i) => ({ ...i, source: `items[${i.index}]` })));
}

/** A service may only name networks that exist (`berth network create`): refused at apply. */
async function checkNetworksExist(store: Store, services: Service[]): Promise<void> {
  const names = [...new Set(services.flatMap((s) => s.spec.networks ?? []))].filter((n) => n !== DEFAULT_NETWORK);
  if (!names.length) return;
  const found = await Promise.all(names.map((n) => store.get(keys.network(n))));
  const missing = new Set(names.filter((_, i) => !found[i]));
  const issues: FieldIssue[] = [];
  services.forEach((s, index) =>
    (s.spec.networks ?? []).forEach((n, i) => {
      if (missing.has(n)) issues.push({ index, path: `spec.networks[${i}]`, reason: `network "${n}" does not exist (create it with: berth network create ${n})` });
    }),
  );
  if (issues.length) throw new ValidationError(issues.map((i) => ({ ...i, source: `items[${i.index}]` })));
}

/**
 * A published port may not be another service's (an ingress port is open on every node): refused
 * at apply, naming the field. Two applies racing for one port are not caught here.
 */
async function checkPublishedPorts(store: Store, services: Service[]): Promise<void> {
  if (!services.some((s) => (s.spec.ports ?? []).some((p) => p.publishedPort !== undefined || p.hostPort))) return;
  const names = new Set(services.map((s) => s.metadata.name));
  const stored = (await store.list<Service>(keys.services)).items.filter((s) => !names.has(s.metadata.name));
  const issues: FieldIssue[] = [];
  services.forEach((s, index) => {
    const others = [...stored, ...services.filter((_, j) => j !== index)].map((o) => ({ name: o.metadata.name, ports: o.spec.ports ?? [] }));
    for (const issue of publishedPortClashes(s.spec.ports ?? [], others)) issues.push({ ...issue, index });
  });
  if (issues.length) throw new ValidationError(issues.map((i) => ({ ...i, source: `items[${i.index}]` })));
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
  await checkFilesExist(store, services);
  await checkPublishedPorts(store, services);
  await checkNetworksExist(store, services);
  // The services and their revision histories are read at once: each apply waits for one round
  // trip of reads and one transaction, not four round trips one after the other.
  const [existing, histories] = await Promise.all([
    Promise.all(services.map((s) => store.get<Service>(keys.service(s.metadata.name)))),
    Promise.all(services.map((s) => listRevisions(store, s.metadata.name))),
  ]);
  const now = new Date().toISOString();
  const ops: WriteOp[] = [];
  const results: ApplyResult[] = [];
  const prune: WriteOp[] = [];
  for (const [i, svc] of services.entries()) {
    const name = svc.metadata.name;
    const cur = existing[i];
    const wanted = svc.metadata.version;
    if (wanted !== undefined && cur?.metadata.version !== wanted) {
      throw new ConflictError(keys.service(name), `service "${name}": version ${wanted} is not the current version (${cur?.metadata.version ?? 'none'})`);
    }
    const labels = svc.metadata.labels ?? {};
    if (cur && isDeepStrictEqual(cur.spec, svc.spec) && isDeepStrictEqual(cur.metadata.labels ?? {}, labels)) {
      results.push({ kind: 'Service', name, action: 'unchanged', version: cur.metadata.version ?? 0 });
      continue;
    }
    // The revision and restart time are the server's: kept across applies.
    const kept = { ...(cur?.metadata.revision !== undefined ? { revision: cur.metadata.revision } : {}), ...(cur?.metadata.restartedAt ? { restartedAt: cur.metadata.restartedAt } : {}) };
    const stored: Service = {
      apiVersion: 'berth/v1',
      kind: 'Service',
      metadata: { name, labels, createdAt: cur?.metadata.createdAt ?? now, updatedAt: now, ...kept },
      spec: svc.spec,
    };
    // A change of the template (not of the scale alone) is a new revision with its rollout.
    if (needsRevision(cur, stored)) {
      const w = await revisionWrite(store, cur, stored, ChangeCause.Apply, now, { existing: histories[i] });
      ops.push(...w.ops);
      prune.push(...w.prune);
    }
    ops.push(cur ? { type: 'put', key: keys.service(name), value: stored, version: cur.metadata.version! } : { type: 'create', key: keys.service(name), value: stored });
    results.push({ kind: 'Service', name, action: cur ? 'configured' : 'created', version: 0 });
  }
  if (opts.dryRun || ops.length === 0) return results;
  if (ops.length > MAX_TXN_OPS) {
    throw new ValidationError([{ path: 'items', reason: `too many changed services for one apply (each writes its service, revision and rollout): apply at most ${Math.floor(MAX_TXN_OPS / 3)} at a time`, source: '' }]);
  }
  try {
    // Revisions past the history limit go in the same transaction when they fit (they are
    // unconditional deletes: they cannot make it fail).
    const together = ops.length + prune.length <= MAX_TXN_OPS;
    const revision = await store.txn(together ? [...ops, ...prune] : ops);
    if (!together) await pruneRevisions(store, prune);
    for (const r of results) if (r.action !== 'unchanged') r.version = revision;
  } catch (err) {
    if (err instanceof ConflictError) {
      throw new ConflictError(err.key, `${err.key.replace(/^services\//, 'service ')} changed while applying; re-run apply`);
    }
    throw err;
  }
  return results;
}
