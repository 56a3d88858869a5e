// Hollow nodes (the idea of Kubernetes' kubemark): many nodes from one process, each a real
// Agent with its own name, labels, capacity, gRPC session and heartbeats, whose worker is a
// FakeWorker that reports assigned tasks running without starting anything. The control plane
// cannot tell them from real nodes: they go through the real dispatcher, scheduler and etcd.
//
// Owns: starting, pacing and stopping a fleet of hollow agents, and its command line (used by the
// scale benchmark, test/bench/). Must not: change anything in the agent or session code paths.
//
// Run: node --import tsx agent/hollow.ts --server HOST:PORT --token-file FILE --count N
// It prints one JSON line {"event":"started","nodes":N} once every agent has begun connecting,
// then runs until SIGTERM/SIGINT, when it stops every agent and prints {"event":"stopped"}.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { createLogger } from '../common/log.js';
import type { NodeResources } from '../common/types.js';
import { generateKeyPair, type PemKeyPair } from '../common/pki/certs.js';
import { Agent, Runtime } from './agent.js';
import { FakeWorker } from './fake-worker.js';

export interface HollowFleetOptions {
  /** `HOST:PORT` (an IP address) of the dispatcher. */
  server: string;
  joinToken: string;
  count: number;
  /** Node names are `<namePrefix><index>`, index from `firstIndex`. */
  namePrefix?: string;
  firstIndex?: number;
  capacity?: NodeResources;
  /** Labels every node carries, plus `hollow.index` and `zone` (index mod 3) of its own. */
  labels?: Record<string, string>;
  /**
   * One TCP connection per node (default true), as real agents on their own machines have.
   * grpc-js otherwise shares one connection between all clients of a process to one address.
   */
  connectionPerNode?: boolean;
  /** Agents started per tick while ramping up (default 200), so the dispatcher is not stampeded. */
  rampBatch?: number;
  rampIntervalMs?: number;
  /**
   * Nodes joining at once (started, session not yet up; default 100). A join costs the runner
   * ~10 ms of its one thread (TLS contexts and handshakes): thousands at once hold heartbeats
   * and answers back past their deadlines, and the retries cost the same again.
   */
  maxJoining?: number;
  logger: Logger;
}

export const HOLLOW_DEFAULT_CAPACITY: NodeResources = { cpu: 4000, memory: 8 * 1024 ** 3 };

export class HollowFleet {
  readonly agents: Agent[] = [];
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: HollowFleetOptions) {}

  /** Starts every agent (in batches); resolves once all have begun connecting. */
  async start(): Promise<void> {
    const o = this.opts;
    // Each node joins (pins the CA, sends a CSR, gets its own certificate) as any agent does,
    // with one key for the whole process: 5,000 key pairs would be time for nothing.
    const sharedKey: PemKeyPair = await generateKeyPair();
    const first = o.firstIndex ?? 0;
    const batch = o.rampBatch ?? 200;
    const joining = new Set<Agent>();
    for (let i = 0; i < o.count; i++) {
      if (this.stopping) return;
      for (;;) {
        for (const a of joining) if (a.session.connected) joining.delete(a);
        if (joining.size < (o.maxJoining ?? 100) || this.stopping) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      const index = first + i;
      const agent = new Agent({
        server: o.connectionPerNode === false ? o.server : ownChannelTarget(o.server, index),
        joinToken: o.joinToken,
        nodeName: `${o.namePrefix ?? 'hollow-'}${index}`,
        labels: { ...o.labels, 'hollow.index': String(index), zone: `z${index % 3}` },
        runtime: Runtime.Process,
        dataDir: path.join(tmpdir(), 'berth-hollow-unused'),
        capacity: o.capacity ?? HOLLOW_DEFAULT_CAPACITY,
        version: 'hollow',
        logger: o.logger,
        worker: new FakeWorker(),
        identity: { inMemory: true, sharedKey },
      });
      this.agents.push(agent);
      joining.add(agent);
      await agent.start();
      if ((i + 1) % batch === 0) await new Promise((r) => setTimeout(r, o.rampIntervalMs ?? 50));
    }
  }

  /** Nodes whose session is up and synchronised. */
  connectedCount(): number {
    return this.agents.filter((a) => a.session.connected).length;
  }

  /** Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= Promise.all(this.agents.map((a) => a.stop())).then(() => undefined);
    return this.stopping;
  }
}

/**
 * A channel target that reaches `server` but is a distinct target to grpc-js, so each node gets
 * its own subchannel (connection): the authority of a `dns:` URI names a DNS server, which is
 * never asked since the host is an IP literal.
 */
export function ownChannelTarget(server: string, index: number): string {
  const port = 1 + (index % 65_000);
  const host = 1 + Math.floor(index / 65_000);
  return `dns://127.0.0.${host}:${port}/${server}`;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      server: { type: 'string' },
      'token-file': { type: 'string' },
      count: { type: 'string' },
      'first-index': { type: 'string' },
      'name-prefix': { type: 'string' },
      'shared-connection': { type: 'boolean' },
      'max-joining': { type: 'string' },
    },
  });
  if (!values.server || !values['token-file'] || !values.count) {
    process.stderr.write('usage: hollow.ts --server HOST:PORT --token-file FILE --count N [--first-index I] [--name-prefix P] [--shared-connection] [--max-joining N]\n');
    return 1;
  }
  const log = createLogger('berth-hollow', process.env.BERTH_LOG_LEVEL ?? 'warn');
  const fleet = new HollowFleet({
    server: values.server,
    joinToken: readFileSync(values['token-file'], 'utf8').trim(),
    count: Number(values.count),
    firstIndex: Number(values['first-index'] ?? 0),
    ...(values['name-prefix'] ? { namePrefix: values['name-prefix'] } : {}),
    connectionPerNode: !values['shared-connection'],
    ...(values['max-joining'] ? { maxJoining: Number(values['max-joining']) } : {}),
    logger: log,
  });
  const done = new Promise<void>((resolve) => {
    const onSignal = () => void fleet.stop().then(resolve);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  await fleet.start();
  process.stdout.write(`${JSON.stringify({ event: 'started', nodes: fleet.agents.length })}\n`);
  await done;
  process.stdout.write(`${JSON.stringify({ event: 'stopped' })}\n`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`hollow: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
