// The events of a committed scheduling decision: a placement, or a new explanation of why a task
// cannot be placed (planWrites writes one only when it changes, so a task that stays
// unplaceable through many passes records one event, not one per pass), or of why it waits for
// the services it depends on.
import { EventReason, EventType, taskRef, type EventInput } from '../../common/events.js';
import { TaskState, type Task } from '../../common/types.js';
import { WAITING_FOR_DEPENDENCY } from './dependencies.js';
import { UNSCHEDULABLE } from './reasons.js';

export function placementEvent(written: Task): EventInput | undefined {
  const message = written.status.message ?? '';
  if (written.status.state === TaskState.Assigned) {
    return { ...taskRef(written), type: EventType.Normal, reason: EventReason.TaskScheduled, message };
  }
  if (written.status.reason === UNSCHEDULABLE) {
    return { ...taskRef(written), type: EventType.Warning, reason: EventReason.TaskUnschedulable, message };
  }
  if (written.status.reason === WAITING_FOR_DEPENDENCY) {
    return { ...taskRef(written), type: EventType.Normal, reason: EventReason.TaskWaiting, message };
  }
  return undefined;
}
