// A test cluster of real processes: one `berth server` (no local agent) and N `berth agent`s,
// docker runtime by default, with node names unique to the run (`<prefix>-<hex>-<suffix>`) so
// that cleanup removes exactly this run's containers (they carry the name in `berth.node`).
// startCluster returns once every node is ready, or stops what it started and throws.
// stop() never throws: after hooks call it even when a test (or the start) failed.
import { eventually } from './etcd.js';
import { listTasks, runBerth, startAgent, startServer, waitNodesReady, type TestAgent, type TestServer } from './berth.js';
import { ensureTestImages, removeContainersOfNodes, testNodeName } from './docker.js';

export interface ClusterAgentOptions {
  /** Suffix of the node name: the node is `<prefix>-<hex>-<name>`. */
  name: string;
  /** `k=v,k=v` as `berth agent --labels` takes them. */
  labels?: string;
  /** Default 2 (startAgent's default). */
  cpu?: string;
  /** Default 2Gi (startAgent's default). */
  memory?: string;
}

export interface StartClusterOptions {
  agents: readonly ClusterAgentOptions[];
  /** Start of every node name of the run; default `e2e`. */
  prefix?: string;
  /** Extra `berth server` arguments (e.g. `--heartbeat-grace 20`, `--etcd URL`). */
  serverArgs?: string[];
  /** Default `docker` (the test images are built first when missing). */
  runtime?: 'docker' | 'process';
  /** How long the nodes may take to become ready; default 90 s. */
  readyTimeoutMs?: number;
}

export interface StopClusterOptions {
  /** Deleted first, and their tasks waited for (up to 30 s), so agents stop their containers themselves. */
  services?: readonly string[];
}

export interface TestCluster {
  server: TestServer;
  /** In the order of the options; join() appends. */
  agents: TestAgent[];
  /** Node names, in the order of the agents. */
  nodeNames: string[];
  /** Node name -> node id, as they were when the cluster became ready. */
  nodeIds: Map<string, string>;
  /** The node name of the suffix `name` (the same for every call of the run). */
  nodeName(name: string): string;
  /** Starts one more agent (not waited for); its containers are removed by stop() too. */
  join(agent: ClusterAgentOptions): TestAgent;
  /** Deletes `services`, stops every agent and the server, removes the run's containers; never throws. */
  stop(opts?: StopClusterOptions): Promise<void>;
}

export async function startCluster(opts: StartClusterOptions): Promise<TestCluster> {
  const runtime = opts.runtime ?? 'docker';
  if (runtime === 'docker') await ensureTestImages();
  const run = testNodeName(opts.prefix ?? 'e2e');
  const nodeName = (name: string) => `${run}-${name}`;
  const server = await startServer(opts.serverArgs ? { extraArgs: opts.serverArgs } : {});
  const agents: TestAgent[] = [];
  const nodeNames: string[] = [];
  const join = (a: ClusterAgentOptions): TestAgent => {
    const name = nodeName(a.name);
    nodeNames.push(name);
    const agent = startAgent(server, {
      name,
      runtime,
      ...(a.labels ? { labels: a.labels } : {}),
      ...(a.cpu ? { cpu: a.cpu } : {}),
      ...(a.memory ? { memory: a.memory } : {}),
    });
    agents.push(agent);
    return agent;
  };
  const stop = async (stopOpts: StopClusterOptions = {}) => {
    const services = stopOpts.services ?? [];
    if (services.length) {
      await runBerth(['delete', 'service', ...services], { config: server.configPath }).catch(() => undefined);
      await eventually(
        async () => (await listTasks(server)).every((t) => !services.includes(t.serviceName)),
        30_000,
        'tasks removed',
      ).catch(() => undefined);
    }
    for (const a of agents) await a.stop().catch(() => undefined);
    await server.stop().catch(() => undefined);
    // A killed agent's containers keep running: nothing of the run may stay behind.
    await removeContainersOfNodes(nodeNames);
  };
  try {
    for (const a of opts.agents) join(a);
    const nodeIds = await waitNodesReady(server, agents, opts.readyTimeoutMs ?? 90_000);
    return { server, agents, nodeNames, nodeIds, nodeName, join, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
