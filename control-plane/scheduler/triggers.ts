// Which store changes can change a placement decision. Everything else (a task moving from
// accepted to running, a node's heartbeat timestamp) is not worth a pass.
import type { Node, Task } from '../../common/types.js';
import { holdsNode, isLiveOnNode } from './node-usage.js';
import { isSchedulable } from './placement.js';

/** `previous` absent = created; `next` absent = deleted. */
export function taskChangeMatters(previous: Task | undefined, next: Task | undefined): boolean {
  if (next && isSchedulable(next)) return true;
  if (!previous || !next) return previous ? holdsNode(previous) : false;
  return (
    holdsNode(previous) !== holdsNode(next) ||
    isLiveOnNode(previous) !== isLiveOnNode(next) ||
    (holdsNode(next) && previous.nodeId !== next.nodeId)
  );
}

export function nodeChangeMatters(previous: Node | undefined, next: Node | undefined): boolean {
  if (!previous || !next) return true;
  return (
    previous.name !== next.name ||
    previous.status.state !== next.status.state ||
    previous.availability !== next.availability ||
    previous.allocatable.cpu !== next.allocatable.cpu ||
    previous.allocatable.memory !== next.allocatable.memory ||
    !sameLabels(previous.labels, next.labels)
  );
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
