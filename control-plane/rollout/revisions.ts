// Revisions: every change of a service's template (its spec without the scale, plus its restart
// time) writes an immutable numbered copy, `revisions/<service>/<n>`, in the same transaction as
// the service, together with a fresh rollout state (`updates/<service>`) the orchestrator acts on.
//
// Owns: revision numbering, change causes, pruning past `spec.revisionHistoryLimit`.
// Must not: replace tasks (the orchestrator does, from the rollout state).
import { isDeepStrictEqual } from 'node:util';
import { DEFAULT_REVISION_HISTORY_LIMIT, UpdateState, type Revision, type UpdateStatus } from '../../common/rollout.js';
import type { Service } from '../../common/types.js';
import type { Store, WriteOp } from '../store/store.js';
import { rolloutKeys } from '../store/keys.js';
import { summarizeChange, templateOf } from './summary.js';

export const ChangeCause = {
  Apply: 'apply',
  Restart: 'rollout restart',
  undo: (n: number) => `rollout undo to ${n}`,
  rollback: (why: string) => `rollback: ${why}`,
} as const;

/** Whether storing `next` over `cur` makes a new revision (not for a change of scale alone). */
export function needsRevision(cur: Service | undefined, next: Service): boolean {
  if (!cur) return true;
  if ((cur.metadata.restartedAt ?? '') !== (next.metadata.restartedAt ?? '')) return true;
  return !isDeepStrictEqual(templateOf(cur.spec), templateOf(next.spec));
}

export interface RevisionWrite {
  /** The new revision's create and the rollout state's put: add them to the service's transaction. */
  ops: WriteOp[];
  revision: Revision;
  update: UpdateStatus;
  /** Revisions past the history limit, to delete once the transaction succeeded. */
  prune: WriteOp[];
}

/**
 * The writes of a new revision of `next` (whose `metadata.revision` this sets), replacing `cur`.
 * `rollingBack`: the rollout is a rollback (state `rolling-back`). `existing`: the service's
 * revisions, when the caller has read them already (else they are listed here).
 */
export async function revisionWrite(
  store: Store,
  cur: Service | undefined,
  next: Service,
  cause: string,
  now: string,
  opts: { rollingBack?: boolean; existing?: readonly Revision[] } = {},
): Promise<RevisionWrite> {
  const name = next.metadata.name;
  const existing = [...(opts.existing ?? (await store.list<Revision>(rolloutKeys.revisions(name))).items)].sort((a, b) => a.number - b.number);
  const number = Math.max(cur?.metadata.revision ?? 0, existing.at(-1)?.number ?? 0) + 1;
  const prev = cur ? existing.find((r) => r.number === cur.metadata.revision) : undefined;
  const restarted = !!cur && (cur.metadata.restartedAt ?? '') !== (next.metadata.restartedAt ?? '');
  next.metadata.revision = number;
  const revision: Revision = {
    service: name,
    number,
    spec: next.spec,
    ...(next.metadata.restartedAt ? { restartedAt: next.metadata.restartedAt } : {}),
    createdAt: now,
    changeCause: cause,
    summary: summarizeChange(prev?.spec ?? cur?.spec, next.spec, restarted),
  };
  const update: UpdateStatus = {
    service: name,
    state: opts.rollingBack ? UpdateState.RollingBack : UpdateState.Updating,
    revision: number,
    ...(cur?.metadata.revision !== undefined ? { previousRevision: cur.metadata.revision } : {}),
    cause,
    startedAt: now,
    updatedAt: now,
    steps: 0,
    failures: 0,
    tasks: {},
    message: `${opts.rollingBack ? 'rolling back to' : 'rolling out'} revision ${number} (${cause})`,
  };
  const limit = next.spec.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT;
  const prune = existing
    .slice(0, Math.max(0, existing.length + 1 - limit))
    .map((r): WriteOp => ({ type: 'delete', key: rolloutKeys.revision(name, r.number) }));
  return {
    ops: [
      { type: 'create', key: rolloutKeys.revision(name, number), value: revision },
      { type: 'put', key: rolloutKeys.update(name), value: update },
    ],
    revision,
    update,
    prune,
  };
}

/** Deletes revisions past the history limit; a failure only leaves one more revision behind. */
export async function pruneRevisions(store: Store, prune: readonly WriteOp[]): Promise<void> {
  if (prune.length) await store.batch([...prune]).catch(() => undefined);
}

export async function listRevisions(store: Store, service: string): Promise<Revision[]> {
  return (await store.list<Revision>(rolloutKeys.revisions(service))).items.sort((a, b) => a.number - b.number);
}
