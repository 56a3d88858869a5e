// A real etcd cluster of several members, each in its own Docker container (testcontainers) on a
// user-defined network, for tests of Berth servers on an external etcd as an operator runs it.
// Owns: the test image berth/etcd-test:3.4 (the host's /usr/bin/etcd and the libraries it links,
// on berth/busybox: no registry is needed), the network and the members' containers, each
// member's client port published on loopback only at a port fixed for the cluster's life (so a
// member stopped and started again answers at the same URL). Everything it creates carries the
// label berth.test=<run id>; remove() removes it all, also what a half-finished start left.
// Must not: pull anything, or leave a container, network or image it made behind.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GenericContainer, getContainerRuntimeClient, Network, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers';
import { freePort } from '../../control-plane/etcd/embedded.js';
import { docker, ensureTestImages, imageExists } from './docker.js';
import { eventually } from './etcd.js';

const run = promisify(execFile);

export const ETCD_TEST_IMAGE = 'berth/etcd-test:3.4';
const HOST_ETCD = '/usr/bin/etcd';

/** The shared libraries a dynamically linked binary loads (absolute paths, from ldd). */
async function librariesOf(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  if (/not a dynamic executable|statically linked/.test(stdout)) return [];
  return [...stdout.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
}

/**
 * Builds berth/etcd-test:3.4 unless it exists: FROM berth/busybox, the host's etcd and the
 * libraries `ldd` names, each at its own path. Returns whether this call built it (then the
 * caller owns it and removes it).
 */
export async function ensureEtcdImage(): Promise<boolean> {
  if (await imageExists(ETCD_TEST_IMAGE)) return false;
  await ensureTestImages();
  const context = mkdtempSync(path.join(tmpdir(), 'berth-etcd-image-'));
  try {
    const lines = ['FROM berth/busybox:latest', 'COPY rootfs/ /'];
    for (const file of [HOST_ETCD, ...(await librariesOf(HOST_ETCD))]) {
      const target = path.join(context, 'rootfs', file);
      mkdirSync(path.dirname(target), { recursive: true });
      copyFileSync(file, target);
    }
    lines.push('ENTRYPOINT ["/usr/bin/etcd"]');
    writeFileSync(path.join(context, 'Dockerfile'), lines.join('\n') + '\n');
    await GenericContainer.fromDockerfile(context).build(ETCD_TEST_IMAGE, { deleteOnExit: false });
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
  return true;
}

export interface EtcdContainerMember {
  /** The member's name in the cluster (m0, m1, ...), also its host name on the network. */
  name: string;
  /** http://127.0.0.1:PORT, the published client port. */
  clientUrl: string;
  containerId: string;
  /** `docker stop` (SIGTERM, SIGKILL after `timeoutSeconds`): the container stays, with its data. */
  stop(timeoutSeconds?: number): Promise<void>;
  /** `docker start` of the stopped container: the member rejoins on its data, at the same URL. */
  start(): Promise<void>;
  /** Whether the member answers /health with true (it has a leader and serves). */
  healthy(): Promise<boolean>;
}

export interface EtcdContainerCluster {
  members: EtcdContainerMember[];
  endpoints: string[];
  networkName: string;
  /** The name of the member etcd reports as its leader, asked of a running member. */
  leaderName(): Promise<string>;
  /** Removes the containers and the network; never throws. */
  remove(): Promise<void>;
}

/** A container whose published ports bind to 127.0.0.1 only (testcontainers binds every address). */
class LoopbackContainer extends GenericContainer {
  withLoopbackPort(container: number, host: number): this {
    this.withExposedPorts({ container, host });
    this.hostConfig.PortBindings = { ...this.hostConfig.PortBindings, [`${container}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(host) }] };
    return this;
  }
}

async function health(clientUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    return ((await res.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

/**
 * Starts a `size`-member cluster (member names m0.., host names on a new network) and waits until
 * every member is healthy. On failure, removes what it made and throws.
 */
export async function startEtcdContainers(size = 3): Promise<EtcdContainerCluster> {
  const runId = randomBytes(4).toString('hex');
  const label = { 'berth.test': `etcd-${runId}` };
  const names = Array.from({ length: size }, (_, i) => `m${i}`);
  const ports = await Promise.all(names.map(() => freePort()));
  const initialCluster = names.map((n) => `${n}=http://${n}:2380`).join(',');
  let network: StartedNetwork | undefined;
  const started: StartedTestContainer[] = [];
  const remove = async () => {
    await Promise.all(started.map((c) => c.stop({ remove: true, timeout: 0 }).catch(() => undefined)));
    // Whatever a half-finished start left (a container created but not reported as started).
    const left = await docker('ps', '-aq', '--filter', `label=berth.test=${label['berth.test']}`).catch(() => '');
    if (left) await docker('rm', '-f', '-v', ...left.split('\n')).catch(() => undefined);
    await network?.stop().catch(() => undefined);
  };
  try {
    network = await new Network().start();
    const net = network;
    await Promise.all(
      names.map(async (name, i) => {
        const clientUrl = `http://127.0.0.1:${ports[i]}`;
        const container = await new LoopbackContainer(ETCD_TEST_IMAGE)
          .withName(`berth-etcd-${runId}-${name}`)
          .withLabels(label)
          .withNetwork(net)
          .withNetworkAliases(name)
          .withHostname(name)
          .withLoopbackPort(2379, ports[i]!)
          .withCommand([
            '--name', name,
            '--data-dir', '/var/lib/etcd',
            '--listen-client-urls', 'http://0.0.0.0:2379',
            '--advertise-client-urls', clientUrl,
            '--listen-peer-urls', 'http://0.0.0.0:2380',
            '--initial-advertise-peer-urls', `http://${name}:2380`,
            '--initial-cluster', initialCluster,
            '--initial-cluster-state', 'new',
            '--initial-cluster-token', `berth-test-${runId}`,
            '--log-level', 'info',
            '--logger', 'zap',
          ])
          // Printed once the member joined a quorum, so the members start together. (Not a wait on
          // the published port: testcontainers would probe it at the Docker bridge's gateway.)
          .withWaitStrategy(Wait.forLogMessage(/serving client traffic|ready to serve client requests/))
          .withStartupTimeout(60_000)
          .start();
        started.push(container);
      }),
    );
  } catch (err) {
    await remove();
    throw err;
  }
  const client = await getContainerRuntimeClient();
  const members = names.map((name, i): EtcdContainerMember => {
    const clientUrl = `http://127.0.0.1:${ports[i]}`;
    const container = started.find((c) => c.getName().endsWith(`-${name}`))!;
    const handle = () => client.container.getById(container.getId());
    return {
      name,
      clientUrl,
      containerId: container.getId(),
      async stop(timeoutSeconds = 2) {
        await handle().stop({ t: timeoutSeconds });
      },
      async start() {
        await handle().start();
      },
      healthy: () => health(clientUrl),
    };
  });
  const cluster: EtcdContainerCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    networkName: network.getName(),
    async leaderName() {
      for (const m of members) {
        try {
          const res = await fetch(`${m.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(2000) });
          const status = (await res.json()) as { leader: string };
          const list = await fetch(`${m.clientUrl}/v3/cluster/member/list`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(2000) });
          const body = (await list.json()) as { members: { ID: string; name: string }[] };
          const leader = body.members.find((x) => x.ID === status.leader);
          if (leader) return leader.name;
        } catch {
          // try the next member
        }
      }
      throw new Error('no member named the leader');
    },
    remove,
  };
  try {
    await eventually(async () => (await Promise.all(members.map((m) => m.healthy()))).every(Boolean), 60_000, `${size} healthy etcd members`);
  } catch (err) {
    await remove();
    throw err;
  }
  return cluster;
}

/** Removes the image if the caller built it (ensureEtcdImage returned true); never throws. */
export async function removeEtcdImage(built: boolean): Promise<void> {
  if (built) await docker('rmi', ETCD_TEST_IMAGE).catch(() => undefined);
}
