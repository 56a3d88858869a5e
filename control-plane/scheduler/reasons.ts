// Why a node cannot take a task, as the words of an unschedulable task's message
// (`0/3 nodes available: 2 insufficient memory, 1 not ready`). Users and tests read these.

export const FailureReason = {
  NotReady: 'not ready',
  NotActive: 'not active (paused or drained)',
  InsufficientCpu: 'insufficient cpu',
  InsufficientMemory: 'insufficient memory',
  /** The whole message tail when the cluster has no node at all. */
  NoNodes: 'no nodes available',
} as const;
export type FailureReason = (typeof FailureReason)[keyof typeof FailureReason];

/** `status.reason` of a pending task that no node can take. */
export const UNSCHEDULABLE = 'Unschedulable';

export function constraintNotMet(constraintText: string): string {
  return `constraint ${constraintText} not met`;
}

export function hostPortsInUse(ports: string[]): string {
  return `${ports.length > 1 ? 'host ports' : 'host port'} ${ports.join(', ')} in use`;
}

export function maxPerNodeReached(max: number): string {
  return `max ${max} per node reached`;
}

/** Nodes without the named volume(s) a task's data lives on. */
export function volumeElsewhere(pins: { volume: string; nodes: string[] }[]): string {
  return `without volume ${pins.map((p) => `${p.volume} (on ${p.nodes.join(', ')})`).join(', ')}`;
}

/** A global task's node is gone from the store. */
export function pinnedNodeMissing(nodeId: string): string {
  return `node ${nodeId} not found`;
}

/** `status.message` of a task the scheduler has just assigned. */
export function scheduledOn(nodeName: string): string {
  return `scheduled on ${nodeName}`;
}
