// `npm run bench:network`: the cluster network's data path on test hosts (network namespaces, a
// dockerd and an agent each, docs/networking.md), in one run: wrk from host A against berth/web
// (one task, on host B) at the task's own address (direct), through the service name's VIP, and
// through the routing mesh (host A's address, published port): requests/s, p50 and p99 latency.
// Then connections per second through the user-space PROXY v2 forwarder (berth/peer on B, through
// A's published port), and the time from a task's death (`docker kill`) to its address leaving
// every host's rules. Prints one JSON object. Removes everything it made, also on failure.
//
//   npm run bench:network [-- --seconds 5 --connections 16]
import net from 'node:net';
import { parseArgs } from 'node:util';
import type { Task } from '../../common/types.js';
import { listTasks, runBerth } from '../helpers/berth.js';
import { PEER_IMAGE, WEB_IMAGE } from '../helpers/docker.js';
import { eventually } from '../helpers/etcd.js';
import { startTestHosts, type TestHost, type TestHosts } from '../helpers/test-host.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, connections: { type: 'string', default: '16' } } });
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
const WEB_PORT = 30090;
const PROXY_PORT = 30091;

const manifest = (node: string) => `apiVersion: berth/v1
kind: Service
metadata: { name: web }
spec:
  image: ${WEB_IMAGE}
  replicas: 1
  stopGracePeriodSeconds: 1
  placement: { constraints: ["node.name == ${node}"] }
  ports: [{ containerPort: 8080, publishedPort: ${WEB_PORT} }]
---
apiVersion: berth/v1
kind: Service
metadata: { name: pp }
spec:
  image: ${PEER_IMAGE}
  replicas: 1
  stopGracePeriodSeconds: 1
  placement: { constraints: ["node.name == ${node}"] }
  ports: [{ containerPort: 9000, publishedPort: ${PROXY_PORT}, proxyProtocol: true }]
`;

interface WrkResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

const toMs = (v: string) => {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
};

async function wrk(host: TestHost, url: string): Promise<WrkResult> {
  const out = await host.exec('wrk', ['-t', '2', '-c', String(CONNECTIONS), '-d', `${SECONDS}s`, '--latency', url]);
  const pct = (p: string) => toMs(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socket = (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out) ?? []).slice(1).reduce((n, v) => n + Number(v), 0);
  return { requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN), p50Ms: pct('50'), p99Ms: pct('99'), errors: non2xx + socket };
}

/** Connections per second through the forwarder: each connects, sends a line, reads berth/peer's answer. */
async function proxyConnectionsPerSecond(address: string, seconds: number): Promise<number> {
  const deadline = Date.now() + seconds * 1000;
  let done = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: address, port: PROXY_PORT });
      s.setTimeout(3000, () => s.destroy(new Error('timeout')));
      s.on('connect', () => s.write('hello-bench-hello-bench\n'));
      s.on('data', () => undefined);
      s.on('error', reject);
      s.on('close', () => resolve());
    });
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (Date.now() < deadline) {
      await one();
      done++;
    }
  }));
  return done / seconds;
}

async function main(): Promise<void> {
  let hosts: TestHosts | undefined;
  const stopAll = async () => {
    await hosts?.stop();
    hosts = undefined;
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    hosts = await startTestHosts({ hosts: ['a', 'b', 'c'], prefix: 'nbench', serverArgs: ['--node-subnets', '{range}.128.0/17', '--service-addresses', '{range}.64.0/18'] });
    const config = hosts.server.configPath;
    const [a, b, c] = [hosts.host('a'), hosts.host('b'), hosts.host('c')];
    const r = await runBerth(['apply', '-f', '-'], { config, input: manifest(b.nodeName) });
    if (r.code !== 0) throw new Error(r.stderr);
    let tasks: Task[] = [];
    const h = hosts;
    await eventually(async () => {
      tasks = (await listTasks(h.server)).filter((t) => t.status.state === 'running' && t.desiredState === 'running' && t.status.address);
      return tasks.length === 2;
    }, 90_000, 'both tasks running');
    const web = tasks.find((t) => t.serviceName === 'web')!;
    const ep = JSON.parse((await runBerth(['get', 'endpoints', 'web', '-o', 'json'], { config })).stdout) as { vip: string };
    await eventually(() => a.exec('wrk', ['-t', '1', '-c', '1', '-d', '1s', `http://${a.address}:${WEB_PORT}/`]), 30_000, 'the mesh answers');

    const direct = await wrk(a, `http://${web.status.address}:8080/`);
    const byName = await wrk(a, `http://${ep.vip}:8080/`);
    const mesh = await wrk(a, `http://${a.address}:${WEB_PORT}/`);
    const meshLocal = await wrk(b, `http://${b.address}:${WEB_PORT}/`);
    await eventually(() => proxyConnectionsPerSecond(a.address, 0.2), 30_000, 'the forwarder answers');
    const proxyCps = await proxyConnectionsPerSecond(a.address, SECONDS);

    // A task's death to its address gone from every host's rules.
    const killedAt = Date.now();
    await b.docker('kill', web.name);
    const gone = async (host: TestHost) => {
      for (;;) {
        const rules = await host.exec('iptables-save', ['-t', 'nat']);
        if (!rules.includes(`--to-destination ${web.status.address}`)) return Date.now() - killedAt;
        if (Date.now() - killedAt > 30_000) throw new Error(`host ${host.key}: the dead task is still in the rules after 30 s`);
        await new Promise((res) => setTimeout(res, 10));
      }
    };
    const removal = await Promise.all([a, b, c].map(gone));

    const ratio = (x: WrkResult) => +(x.requestsPerSecond / direct.requestsPerSecond).toFixed(3);
    console.log(JSON.stringify({
      seconds: SECONDS,
      connections: CONNECTIONS,
      direct,
      serviceName: { ...byName, throughputVsDirect: ratio(byName), p99AddedMs: +(byName.p99Ms - direct.p99Ms).toFixed(2) },
      meshOtherNode: { ...mesh, throughputVsDirect: ratio(mesh), p99AddedMs: +(mesh.p99Ms - direct.p99Ms).toFixed(2) },
      meshSameNode: { ...meshLocal, throughputVsDirect: ratio(meshLocal) },
      proxyProtocolConnectionsPerSecond: Math.round(proxyCps),
      taskDeathToRemovedEverywhereMs: Math.max(...removal),
      taskDeathToRemovedPerHostMs: removal,
    }, null, 2));
  } finally {
    await stopAll();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
