// What `berth rollout undo|pause|resume|restart` and an automatic rollback do to the store: each
// is one transaction on the service and its rollout state (plus a new revision for undo,
// restart and rollback), conditional on the versions read, so two of them never interleave.
import { ConflictError, NotFoundError } from '../../common/errors.js';
import { isActive, UpdateState, type Revision, type UpdateStatus } from '../../common/rollout.js';
import type { Service } from '../../common/types.js';
import { keys, rolloutKeys } from '../store/keys.js';
import type { Store, WriteOp } from '../store/store.js';
import { ChangeCause, listRevisions, pruneRevisions, revisionWrite } from './revisions.js';

/** A refused rollout action (nothing to pause, no such revision...): a 409 for API clients. */
export class RolloutError extends ConflictError {
  constructor(service: string, message: string) {
    super(rolloutKeys.update(service), message);
  }
}

async function getService(store: Store, name: string): Promise<Service> {
  const svc = await store.get<Service>(keys.service(name));
  if (!svc) throw new NotFoundError('service', name);
  return svc;
}

export async function getUpdate(store: Store, name: string): Promise<UpdateStatus | undefined> {
  return store.get<UpdateStatus>(rolloutKeys.update(name));
}

/**
 * Stores `target`'s template as the service's new revision (scale kept) and starts its rollout.
 * Used by undo (cause `rollout undo to N`) and by the orchestrator's automatic rollback.
 */
export async function rollTo(
  store: Store,
  cur: Service,
  target: Revision,
  cause: string,
  opts: { rollingBack?: boolean; updateVersion?: number } = {},
): Promise<{ service: Service; update: UpdateStatus; revision: number }> {
  const now = new Date().toISOString();
  const { restartedAt: _r, version: _v, ...meta } = cur.metadata;
  const next: Service = {
    ...cur,
    metadata: { ...meta, updatedAt: now, ...(target.restartedAt ? { restartedAt: target.restartedAt } : {}) },
    spec: { ...target.spec, ...(cur.spec.replicas !== undefined ? { replicas: cur.spec.replicas } : {}) },
  };
  delete next.status;
  const w = await revisionWrite(store, cur, next, cause, now, opts);
  const ops: WriteOp[] = [{ type: 'put', key: keys.service(cur.metadata.name), value: next, version: cur.metadata.version! }, ...w.ops];
  if (opts.updateVersion !== undefined) {
    // The orchestrator's rollback must not overwrite a rollout the user started meanwhile.
    ops[2] = { type: 'put', key: rolloutKeys.update(cur.metadata.name), value: w.update, version: opts.updateVersion };
  }
  const revision = await store.txn(ops);
  await pruneRevisions(store, w.prune);
  return { service: next, update: w.update, revision };
}

/** `rollout undo`: back to `toRevision`, or to the revision before the current one. */
export async function undo(store: Store, name: string, toRevision?: number): Promise<{ service: Service; update: UpdateStatus; revision: number; from: number; to: number }> {
  const cur = await getService(store, name);
  const revisions = await listRevisions(store, name);
  const current = cur.metadata.revision ?? 0;
  const target =
    toRevision !== undefined
      ? revisions.find((r) => r.number === toRevision)
      : revisions.filter((r) => r.number < current).at(-1);
  if (!target) {
    const kept = revisions.map((r) => r.number).join(', ') || 'none';
    throw new RolloutError(name, toRevision !== undefined ? `service "${name}" has no revision ${toRevision} (kept: ${kept})` : `service "${name}" has no revision before ${current} to undo to`);
  }
  if (target.number === current) throw new RolloutError(name, `service "${name}" already runs revision ${current}`);
  const res = await rollTo(store, cur, target, ChangeCause.undo(target.number));
  return { ...res, from: current, to: target.number };
}

/** `rollout restart`: a new revision with the same spec and a new restart time: every task is replaced. */
export async function restart(store: Store, name: string): Promise<{ service: Service; update: UpdateStatus }> {
  const cur = await getService(store, name);
  const now = new Date().toISOString();
  const next: Service = { ...cur, metadata: { ...cur.metadata, updatedAt: now, restartedAt: now } };
  delete next.status;
  delete next.metadata.version;
  const w = await revisionWrite(store, cur, next, ChangeCause.Restart, now);
  await store.txn([{ type: 'put', key: keys.service(name), value: next, version: cur.metadata.version! }, ...w.ops]);
  await pruneRevisions(store, w.prune);
  return { service: next, update: w.update };
}

/** `rollout pause`: the rollout replaces no more tasks until resumed. */
export async function pause(store: Store, name: string): Promise<UpdateStatus> {
  await getService(store, name);
  const u = await getUpdate(store, name);
  if (!u || !isActive(u.state)) throw new RolloutError(name, `service "${name}" has no rollout in progress${u ? ` (${u.state})` : ''}`);
  const next: UpdateStatus = { ...u, state: UpdateState.Paused, updatedAt: new Date().toISOString(), message: `paused by the user (${u.message})` };
  await store.put(rolloutKeys.update(name), next, u.version);
  return next;
}

/** `rollout resume`: a paused rollout goes on, its failure count reset (its failed slots are retried). */
export async function resume(store: Store, name: string): Promise<UpdateStatus> {
  await getService(store, name);
  const u = await getUpdate(store, name);
  if (!u || u.state !== UpdateState.Paused) throw new RolloutError(name, `service "${name}" has no paused rollout${u ? ` (${u.state})` : ''}`);
  const rollingBack = u.cause?.startsWith('rollback') ?? false;
  const tasks = Object.fromEntries(Object.entries(u.tasks).filter(([, r]) => !r.failed));
  const next: UpdateStatus = {
    ...u,
    state: rollingBack ? UpdateState.RollingBack : UpdateState.Updating,
    failures: 0,
    tasks,
    updatedAt: new Date().toISOString(),
    message: `resumed: ${rollingBack ? 'rolling back to' : 'rolling out'} revision ${u.revision}`,
  };
  await store.put(rolloutKeys.update(name), next, u.version);
  return next;
}
