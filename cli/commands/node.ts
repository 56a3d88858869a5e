// `berth node cordon|uncordon|drain|rm NAME`: the operator's say over a node. cordon = pause (no
// new tasks, running ones stay), uncordon = active, drain = move every task elsewhere (a few
// per service at a time), rm = forget a node that is down.
import type { NodeView } from '../api-client.js';
import { UsageError, type ClientCommand } from '../command.js';
import { errorMessage } from '../../common/errors.js';

export const NodeAction = { Cordon: 'cordon', Uncordon: 'uncordon', Drain: 'drain', Remove: 'rm' } as const;
export type NodeAction = (typeof NodeAction)[keyof typeof NodeAction];

const AVAILABILITY_OF: Record<Exclude<NodeAction, 'rm'>, string> = { cordon: 'pause', uncordon: 'active', drain: 'drain' };
const DONE: Record<Exclude<NodeAction, 'rm'>, string> = {
  cordon: 'cordoned: no new tasks will be placed on it',
  uncordon: 'uncordoned: it takes new tasks again',
  drain: 'draining: its tasks are moving to other nodes',
};

export function parseNodeArgs(positionals: readonly string[]): { action: NodeAction; names: string[] } {
  const [action, ...names] = positionals;
  const actions = Object.values(NodeAction) as string[];
  if (!action) throw new UsageError(`node needs an action: ${actions.join(', ')}`, 'node');
  if (!actions.includes(action)) throw new UsageError(`unknown node action "${action}": use one of ${actions.join(', ')}`, 'node');
  if (!names.length) throw new UsageError(`node ${action} needs a node NAME`, 'node');
  return { action: action as NodeAction, names };
}

export const nodeCommand: ClientCommand = {
  name: 'node',
  summary: 'Cordon, uncordon, drain or remove nodes',
  usage: 'berth node cordon|uncordon|drain|rm NAME [NAME...]',
  description:
    'cordon: no new tasks are placed on the node; its running tasks stay.\n' +
    'uncordon: the node takes new tasks again.\n' +
    'drain: no new tasks, and its tasks are moved to other nodes, update.parallelism (default 1)\n' +
    '  replicas of a service at a time; tasks of global services on it are stopped.\n' +
    'rm: removes a node that is down (refused otherwise); its ended tasks are cleaned up later.\n' +
    'Exits 1 if any node failed.',
  examples: ['berth node drain node-2', 'berth node uncordon node-2', 'berth node rm node-3'],
  options: {},
  async run(ctx, args) {
    const { action, names } = parseNodeArgs(args.positionals);
    const client = ctx.client();
    let failed = 0;
    for (const name of names) {
      try {
        if (action === NodeAction.Remove) {
          await client.request<{ removed: string }>('DELETE', `/v1/nodes/${encodeURIComponent(name)}`);
          ctx.out(`node/${name} removed`);
        } else {
          const node = await client.request<NodeView>('POST', `/v1/nodes/${encodeURIComponent(name)}/availability`, {
            availability: AVAILABILITY_OF[action],
          });
          ctx.out(`node/${node.name} ${DONE[action]}`);
        }
      } catch (err) {
        failed++;
        ctx.err(`error: ${errorMessage(err)}`);
      }
    }
    return failed ? 1 : 0;
  },
};
