// Reconciler of global services: one live task on every eligible node, following nodes as they
// join, leave, drain or change labels. Tasks are created already pinned to their node; the
// scheduler still checks that they fit there.
import { firstUnmet, parseConstraints } from '../../common/constraints.js';
import type { Node, Service, Task } from '../../common/types.js';
import { orphanTasksOfDownNodes, withoutOrphanedTwice } from './healing.js';
import { emptyPlan, mergePlans, newTask, Reason, type Plan, type PlanInput } from './plan.js';
import { planRestart } from './restart.js';
import { HISTORY_PER_SLOT, isGone, newestFirst } from './rules.js';
import { isLive, isOutdated } from '../../common/task-predicates.js';
import { planGlobalRollout } from './update.js';

/** May `node` keep a task of `svc`? A paused node keeps its tasks but gets no new ones. */
export function isEligible(node: Node, svc: Service): boolean {
  if (node.availability === 'drain' || node.status.state === 'down') return false;
  return !firstUnmet(node, parseConstraints(svc.spec.placement?.constraints));
}

/**
 * The task of a `down` node is orphaned and not replaced elsewhere (a global task belongs to its
 * node); its history stays until the node comes back or is deleted.
 */
export function planGlobal(input: PlanInput & { service: Service }): Plan {
  const { service: svc, now, backoff } = input;
  const nodes = input.nodes ?? [];
  const healing = orphanTasksOfDownNodes(input.tasks, nodes, now);
  const tasks = healing.tasks;
  const rolloutPlan = planGlobalRollout(svc, tasks, input.update, now);
  const plan = emptyPlan();
  const downNodes = new Set(nodes.filter((n) => n.status.state === 'down').map((n) => n.id));
  const byNode = new Map<string, Task[]>();
  for (const t of tasks) {
    const list = byNode.get(t.nodeId ?? '') ?? [];
    list.push(t);
    byNode.set(t.nodeId ?? '', list);
  }
  for (const list of byNode.values()) list.sort(newestFirst);
  const eligible = new Set(nodes.filter((n) => isEligible(n, svc)).map((n) => n.id));
  const paused = new Set(nodes.filter((n) => n.availability === 'pause').map((n) => n.id));

  for (const nodeId of eligible) {
    const list = byNode.get(nodeId) ?? [];
    const [keep, ...extra] = list.filter(isLive);
    for (const t of extra) plan.shutdown.push({ task: t, desiredState: 'shutdown', reason: Reason.Superseded });
    if (keep) {
      if (isOutdated(keep, svc.spec, svc.metadata.restartedAt)) plan.shutdown.push({ task: keep, desiredState: 'shutdown', reason: Reason.Updated });
    } else if (!paused.has(nodeId) && !list.some((t) => t.desiredState !== 'running' && !isGone(t))) {
      const last = list[0];
      if (!last || last.desiredState !== 'running') {
        plan.create.push(newTask(svc, { nodeId }, now));
      } else {
        planRestart(svc, last, { nodeId }, now, plan, backoff);
      }
    }
    const ended = list.filter((t) => t.desiredState !== 'running' && isGone(t));
    plan.remove.push(...ended.slice(HISTORY_PER_SLOT));
  }

  for (const [nodeId, list] of byNode) {
    if (eligible.has(nodeId)) continue;
    const ended = list.filter((t) => isGone(t) && t.desiredState !== 'running');
    plan.remove.push(...(downNodes.has(nodeId) ? ended.slice(HISTORY_PER_SLOT) : ended));
    for (const t of list) {
      if (t.desiredState === 'running') plan.shutdown.push({ task: t, desiredState: 'shutdown', reason: Reason.NodeIneligible });
    }
  }
  return withoutOrphanedTwice(mergePlans(mergePlans(healing.plan, rolloutPlan), plan));
}
