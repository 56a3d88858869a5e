// The messages of the watch API (`GET /v1/watch`, a WebSocket): shared by the control plane,
// which sends them, and the CLI, which follows them.

export const WatchKind = { Services: 'services', Tasks: 'tasks', Nodes: 'nodes', Events: 'events' } as const;
export type WatchKind = (typeof WatchKind)[keyof typeof WatchKind];

export const WatchEventType = { Added: 'ADDED', Modified: 'MODIFIED', Deleted: 'DELETED' } as const;
export type WatchEventType = (typeof WatchEventType)[keyof typeof WatchEventType];

/**
 * One change. `version` is the position in the stream (an etcd revision): a client that
 * reconnects with `fromVersion` = the last version it saw receives every change after it.
 */
export interface WatchChange<T = unknown> {
  type: WatchEventType;
  object: T;
  version: number;
}

/** `code` 410: `fromVersion` is too old to resume from; list again (without fromVersion). */
export interface WatchError {
  type: 'ERROR';
  code: number;
  message: string;
}

export type WatchMessage<T = unknown> = WatchChange<T> | WatchError;

/** HTTP-like codes of a watch ERROR message. */
export const WatchErrorCode = { BadRequest: 400, Gone: 410, Unavailable: 503 } as const;

/** WebSocket close code sent after an ERROR message (4000 + the HTTP-like code). */
export function closeCodeOf(code: number): number {
  return 4000 + code;
}

export function isWatchKind(s: string): s is WatchKind {
  return (Object.values(WatchKind) as string[]).includes(s);
}
