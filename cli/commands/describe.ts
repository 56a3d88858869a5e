// `berth describe service|task|node NAME`: one object in detail, with the tasks around it.
import { UsageError, type ClientCommand } from '../command.js';
import { namedVolumes } from '../../common/workloads.js';
import { describeNode, describeService, describeTask } from '../output/describe.js';
import { Kind, parseKindAndNames } from '../resources.js';
import { recentEvents } from '../output/events.js';
import { describeServer, SERVER_KIND_NAMES } from './get-servers.js';

export const describeCommand: ClientCommand = {
  name: 'describe',
  summary: 'Show one service, task or node in detail',
  usage: 'berth describe service|task|node|server NAME',
  description:
    'A service shows its spec and its tasks; a task its states, node, container, ports, exit code and\n' +
    'last output; a node its status, labels, capacity, what its tasks request, and its tasks.',
  examples: ['berth describe service web', 'berth describe task web.1', 'berth describe node node-1'],
  options: {},
  async run(ctx, args) {
    if (SERVER_KIND_NAMES.includes(args.positionals[0]?.toLowerCase() ?? '')) {
      if (args.positionals.length !== 2) throw new UsageError('describe server takes one NAME', 'describe');
      return describeServer(ctx, args.positionals[1]!);
    }
    const { kind, names } = parseKindAndNames(args.positionals, 'describe');
    const [name, ...extra] = names;
    if (!name) throw new UsageError(`describe needs a ${kind} NAME`, 'describe');
    if (extra.length) throw new UsageError('describe takes one NAME', 'describe');
    const client = ctx.client();
    // Each view ends with the object's recent events; a server without events only loses those.
    const eventsOf = (filter: { kind?: string; name?: string; service?: string }) =>
      client.listEvents(filter).then((list) => recentEvents(list, filter.service), () => undefined);
    switch (kind) {
      case Kind.Service: {
        const svc = await client.getService(name);
        const tasks = await client.listTasks({ service: svc.metadata.name });
        const events = await eventsOf({ service: svc.metadata.name });
        const volumes = namedVolumes(svc.spec.volumes);
        const pins = volumes.length
          ? (await client.listNodes()).flatMap((n) => (n.volumes ?? []).filter((v) => volumes.includes(v.name)).map((v) => `${n.name} (volume ${v.name})`))
          : [];
        // A cluster without service addresses (or an older server) answers 404: no such lines.
        const endpoints = await client
          .request<{ items: { vip: string; endpoints: { address: string }[] }[] }>('GET', `/v1/endpoints?service=${encodeURIComponent(svc.metadata.name)}`)
          .then((r) => r.items[0] && { vip: r.items[0].vip, addresses: r.items[0].endpoints.map((e) => e.address) }, () => undefined);
        ctx.out(describeService(svc, tasks, await client.nodeNames(tasks), ctx.now(), events, endpoints, pins));
        return 0;
      }
      case Kind.Task: {
        const task = await client.getTask(name);
        const events = await eventsOf({ kind: 'task', name: task.name });
        ctx.out(describeTask(task, await client.nodeNames([task]), ctx.now(), events));
        return 0;
      }
      case Kind.Node: {
        const node = await client.getNode(name);
        const tasks = await client.listTasks({ node: node.id });
        const events = await eventsOf({ kind: 'node', name: node.name });
        ctx.out(describeNode(node, tasks, ctx.now(), events));
        return 0;
      }
    }
  },
};
