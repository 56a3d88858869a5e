// Replacing a task that ended by itself: the restart policy says whether, the backoff says when.
// The replacement is written at once, carrying its crash-loop count and the time before which
// the scheduler must not place it, so `berth get tasks` shows the loop and its next retry.
import type { Service, Task } from '../../common/types.js';
import { crashLoopMessage, nextRestarts, restartDelayMs, type BackoffOptions } from './backoff.js';
import { CRASH_LOOP_BACK_OFF, EventReason, newTask, Reason, type Plan } from './plan.js';
import { shouldRestart } from './rules.js';

/**
 * Plans the replacement of `ended` (the newest task of its slot, desired running, ended by
 * itself) in `place`; returns false when the policy says the slot stays ended.
 */
export function planRestart(
  svc: Service,
  ended: Task,
  place: { slot: number } | { nodeId: string },
  now: string,
  plan: Plan,
  backoff: BackoffOptions = {},
  /** The caller decided the restart and its count (jobs, common/jobs.ts). */
  decided?: { restarts: number },
): boolean {
  const restarts = decided?.restarts ?? nextRestarts(ended, now, backoff);
  // Past restartPolicy.maxAttempts the slot stays ended; `describe task` shows its last exit.
  if (!decided && !shouldRestart(svc.spec, ended, restarts)) return false;
  const task = newTask(svc, place, now);
  task.restarts = restarts;
  const delay = restartDelayMs(restarts, svc.spec.restartPolicy, backoff);
  if (delay > 0) {
    const restartAt = new Date(Date.parse(now) + delay).toISOString();
    task.restartAt = restartAt;
    const message = crashLoopMessage(restarts, restartAt, delay);
    task.status = { ...task.status, reason: CRASH_LOOP_BACK_OFF, message };
    if (restarts > 1) {
      plan.events.push({
        type: 'Warning',
        reason: EventReason.CrashLoopBackOff,
        object: { kind: 'task', name: task.name, id: task.id },
        message,
        service: svc.metadata.name,
      });
    }
  }
  plan.create.push(task);
  (plan.restarts ??= []).push(task.id);
  plan.shutdown.push({ task: ended, desiredState: 'shutdown', reason: Reason.Superseded });
  return true;
}
