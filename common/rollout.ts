// Revisions and rolling updates: shared by the control plane (which writes them) and the CLI
// (which shows them). A revision is an immutable numbered copy of a service's spec; an update
// is the one rollout in progress (or last finished) of a service, kept so it survives a restart.
import type { ServiceSpec } from './types.js';

/** Revisions kept per service unless `spec.revisionHistoryLimit` says otherwise. */
export const DEFAULT_REVISION_HISTORY_LIMIT = 10;

export interface Revision {
  service: string;
  number: number;
  spec: ServiceSpec;
  /** `metadata.restartedAt` of the service at this revision (`rollout restart`). */
  restartedAt?: string;
  createdAt: string;
  /** Why it exists: `apply`, `rollout undo to 3`, `rollback: <why>`, `rollout restart`. */
  changeCause: string;
  /** What changed from the revision before, e.g. `image berth/web:1 -> berth/web:2; env GREETING`. */
  summary: string;
  version?: number;
}

export const UpdateState = {
  Updating: 'updating',
  Paused: 'paused',
  Completed: 'completed',
  RollingBack: 'rolling-back',
  RolledBack: 'rolled-back',
  Failed: 'failed',
} as const;
export type UpdateState = (typeof UpdateState)[keyof typeof UpdateState];

/** States in which the updater still replaces tasks. */
export function isActive(state: UpdateState): boolean {
  return state === UpdateState.Updating || state === UpdateState.RollingBack;
}

/** What the updater knows of one new task of the rollout (keyed by task id). */
export interface UpdateTaskRecord {
  slot: number;
  /** First seen ready (running, and healthy if it has a health check). */
  readySince?: string;
  /** Ready for `monitorSeconds`: this slot is updated. */
  passed?: boolean;
  /** Counted as a failure of the rollout (crashed, unhealthy, not ready before the deadline). */
  failed?: string;
}

export interface UpdateStatus {
  service: string;
  state: UpdateState;
  /** Target revision. */
  revision: number;
  /** Revision the rollout started from (the one `failureAction: rollback` returns to). */
  previousRevision?: number;
  /** Why this rollout exists (the target revision's change cause). */
  cause?: string;
  startedAt: string;
  updatedAt: string;
  completedAt?: string;
  /** Steps started so far (a step replaces up to `parallelism` slots). */
  steps: number;
  /** When the last step finished (all its slots updated or failed): the delay counts from here. */
  stepDoneAt?: string;
  failures: number;
  tasks: Record<string, UpdateTaskRecord>;
  message: string;
  version?: number;
}
