// What an agent reports about one task: the status it observed, by task id. Shared by the agent
// (which produces it), the protocol (which carries it) and the dispatcher (which validates it).
import type { TaskStatus } from './types.js';

export interface TaskStatusReport {
  taskId: string;
  status: TaskStatus;
}
