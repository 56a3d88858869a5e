// Reconciler of global services: one live task on every eligible node, following nodes as they
// join, leave, drain or change labels. Tasks are created already pinned to their node; the
// scheduler still checks that they fit there.
import { firstUnmet, parseConstraints } from '../../common/constraints.js';
import type { Node, Service, Task } from '../../common/types.js';
import { emptyPlan, newTask, Reason, type Plan } from './plan.js';
import { HISTORY_PER_SLOT, isGone, isLive, isOutdated, newestFirst, shouldRestart } from './rules.js';

export function isEligible(node: Node, svc: Service): boolean {
  if (node.availability !== 'active' || node.status.state === 'down') return false;
  return !firstUnmet(node, parseConstraints(svc.spec.placement?.constraints));
}

export function planGlobal(svc: Service, tasks: Task[], nodes: Node[], now: string): Plan {
  const plan = emptyPlan();
  const byNode = new Map<string, Task[]>();
  for (const t of tasks) {
    const list = byNode.get(t.nodeId ?? '') ?? [];
    list.push(t);
    byNode.set(t.nodeId ?? '', list);
  }
  for (const list of byNode.values()) list.sort(newestFirst);
  const eligible = new Set(nodes.filter((n) => isEligible(n, svc)).map((n) => n.id));

  for (const nodeId of eligible) {
    const list = byNode.get(nodeId) ?? [];
    const [keep, ...extra] = list.filter(isLive);
    for (const t of extra) plan.shutdown.push({ task: t, desiredState: 'shutdown', reason: Reason.Superseded });
    if (keep) {
      if (isOutdated(keep, svc.spec)) plan.shutdown.push({ task: keep, desiredState: 'shutdown', reason: Reason.Updated });
    } else if (!list.some((t) => t.desiredState !== 'running' && !isGone(t))) {
      const last = list[0];
      if (!last || last.desiredState !== 'running') {
        plan.create.push(newTask(svc, { nodeId }, now));
      } else if (shouldRestart(svc.spec, last, list.length)) {
        plan.create.push(newTask(svc, { nodeId }, now));
        plan.shutdown.push({ task: last, desiredState: 'shutdown', reason: Reason.Superseded });
      }
    }
    const ended = list.filter((t) => t.desiredState !== 'running' && isGone(t));
    plan.remove.push(...ended.slice(HISTORY_PER_SLOT));
  }

  for (const [nodeId, list] of byNode) {
    if (eligible.has(nodeId)) continue;
    for (const t of list) {
      if (isGone(t) && t.desiredState !== 'running') plan.remove.push(t);
      else if (t.desiredState === 'running') plan.shutdown.push({ task: t, desiredState: 'shutdown', reason: Reason.NodeIneligible });
    }
  }
  return plan;
}
