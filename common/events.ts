// The Event object: shared by the control plane (which records them) and the CLI (which shows them).

export const EventType = { Normal: 'Normal', Warning: 'Warning' } as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

export interface EventObjectRef {
  kind: 'service' | 'task' | 'node' | 'server';
  name: string;
  id?: string;
}

export interface BerthEvent {
  id: string;
  time: string;
  type: EventType;
  /** Short CamelCase reason, a named constant where it is recorded (e.g. `NodeDown`). */
  reason: string;
  object: EventObjectRef;
  message: string;
  /** Related service, so `describe service` can show its tasks' events too. */
  service?: string;
  version?: number;
}

export type EventInput = Omit<BerthEvent, 'id' | 'time' | 'version'>;

/**
 * How events are stored: the events of one write gathered under one key (one etcd key per event
 * made events two fifths of all the keys a starting task wrote). `version` is the key's.
 */
export interface StoredEvents {
  items: BerthEvent[];
  version?: number;
}

/** The events of one stored value, each carrying the value's version. */
export function storedEvents(value: StoredEvents | BerthEvent): BerthEvent[] {
  if (!('items' in value) || !Array.isArray(value.items)) return [value as BerthEvent]; // one event per key (older servers)
  return value.items.map((e) => (value.version !== undefined ? { ...e, version: value.version } : e));
}

/** Every reason the control plane records, so the CLI, tests and docs name the same strings. */
export const EventReason = {
  ServiceCreated: 'ServiceCreated',
  ServiceUpdated: 'ServiceUpdated',
  ServiceDeleted: 'ServiceDeleted',
  ServiceScaled: 'ServiceScaled',
  TaskScheduled: 'TaskScheduled',
  TaskUnschedulable: 'TaskUnschedulable',
  TaskWaiting: 'TaskWaiting',
  TaskStarted: 'TaskStarted',
  TaskUnhealthy: 'TaskUnhealthy',
  TaskFailed: 'TaskFailed',
  TaskCompleted: 'TaskCompleted',
  TaskStopped: 'TaskStopped',
  NodeRegistered: 'NodeRegistered',
  NodeReady: 'NodeReady',
  NodeDown: 'NodeDown',
} as const;
export type EventReason = (typeof EventReason)[keyof typeof EventReason];

/** The object reference and service of a task's events. */
export function taskRef(task: { id: string; name: string; serviceName: string }): Pick<EventInput, 'object' | 'service'> {
  return { object: { kind: 'task', name: task.name, id: task.id }, service: task.serviceName };
}
