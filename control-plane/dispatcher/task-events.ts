// What a written status report means to a user: the events of a task's state change. Pure, so
// every reason is unit-tested with plain tasks; the dispatcher records what this returns.
import { EventReason, EventType, taskRef, type EventInput } from '../../common/events.js';
import { TaskHealth, TaskState, type Task } from '../../common/types.js';

/** `status.reason` an agent reports for a task its health check failed. */
export const UNHEALTHY_REASON = 'Unhealthy';

export function taskStatusEvents(previous: Task | undefined, next: Task, nodeName: string | undefined): EventInput[] {
  const ref = taskRef(next);
  const was = previous?.status;
  const st = next.status;
  const out: EventInput[] = [];
  const on = nodeName ?? next.nodeId;
  if (isUnhealthy(st) && !(was && isUnhealthy(was))) {
    out.push({ ...ref, type: EventType.Warning, reason: EventReason.TaskUnhealthy, message: withDetail('health check failing', st.lastProbe?.message ?? st.message) });
  }
  if (was?.state === st.state) return out;
  switch (st.state) {
    case TaskState.Running:
      out.push({ ...ref, type: EventType.Normal, reason: EventReason.TaskStarted, message: `started${on ? ` on ${on}` : ''}` });
      break;
    case TaskState.Failed:
    case TaskState.Rejected:
      out.push({ ...ref, type: EventType.Warning, reason: EventReason.TaskFailed, message: failureText(next) });
      break;
    case TaskState.Complete:
      out.push({ ...ref, type: EventType.Normal, reason: EventReason.TaskCompleted, message: withDetail(`completed${exitText(next)}`, st.message) });
      break;
    case TaskState.Shutdown:
      out.push({ ...ref, type: EventType.Normal, reason: EventReason.TaskStopped, message: withDetail('stopped', st.message) });
      break;
    default:
      break;
  }
  return out;
}

function isUnhealthy(st: Task['status']): boolean {
  return st.reason === UNHEALTHY_REASON || st.health === TaskHealth.Unhealthy;
}

/** `exit code 3, ContainerExited: panic: no config`: what a user needs first about a failure. */
function failureText(task: Task): string {
  const st = task.status;
  const head = st.state === TaskState.Rejected ? 'rejected' : `failed${exitText(task)}`;
  const reason = st.reason ? `, ${st.reason}` : '';
  return withDetail(`${head}${reason}`, st.message);
}

function exitText(task: Task): string {
  return task.status.exitCode !== undefined ? ` with exit code ${task.status.exitCode}` : '';
}

function withDetail(head: string, detail: string | undefined): string {
  return detail ? `${head}: ${detail}` : head;
}
