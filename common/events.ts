// The Event object: shared by the control plane (which records them) and the CLI (which shows them).

export const EventType = { Normal: 'Normal', Warning: 'Warning' } as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

export interface EventObjectRef {
  kind: 'service' | 'task' | 'node';
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
