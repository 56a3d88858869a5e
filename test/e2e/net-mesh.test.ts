// The routing mesh across test hosts: a service's published port answers on every host's
// address, including hosts without a task of it, over TCP and UDP; on the task's own host the
// backend sees the client's own address; with `proxyProtocol: true` the backend learns the
// client's real address and port from a PROXY v2 header on every host. Bad published ports (used
// by another service, out of 1-65535) are refused at apply, naming the field, and nothing is written.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { listTasks, runBerth } from '../helpers/berth.js';
import { PEER_IMAGE } from '../helpers/docker.js';
import { startTestHosts, type TestHosts } from '../helpers/test-host.js';

const MESH_PORT = 30080;
const PROXY_PORT = 30081;

const peerService = (name: string, node: string, port: number, proxyProtocol: boolean) => `apiVersion: berth/v1
kind: Service
metadata:
  name: ${name}
spec:
  image: ${PEER_IMAGE}
  replicas: 1
  stopGracePeriodSeconds: 1
  placement:
    constraints: ["node.name == ${node}"]
  ports:
    - { containerPort: 9000, publishedPort: ${port}${proxyProtocol ? ', proxyProtocol: true' : ''} }
    - { containerPort: 9000, publishedPort: ${port}, protocol: udp${proxyProtocol ? ', proxyProtocol: true' : ''} }
  resources: { cpu: 100m, memory: 16Mi }
`;

interface Answer {
  peer: string;
  proxy: string;
  host: string;
  /** The client's own port, for comparing with the PROXY header's. */
  localPort: number;
}

const parse = (line: string, localPort: number): Answer => {
  const f = Object.fromEntries(line.trim().split(' ').map((kv) => kv.split('=') as [string, string]));
  return { peer: f.peer ?? '', proxy: f.proxy ?? '', host: f.host ?? '', localPort };
};

/** One TCP connection to address:port: sends a line, reads berth/peer's answer. */
function tcpAsk(address: string, port: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: address, port });
    let text = '';
    let localPort = 0;
    s.setTimeout(3000, () => s.destroy(new Error(`tcp ${address}:${port}: no answer in 3 s`)));
    s.on('connect', () => {
      localPort = s.localPort ?? 0;
      s.write('hello-mesh-hello-mesh\n');
    });
    s.on('data', (d) => (text += d.toString()));
    s.on('error', reject);
    s.on('close', () => (text ? resolve(parse(text, localPort)) : reject(new Error(`tcp ${address}:${port}: closed without an answer`))));
  });
}

/** One UDP datagram to address:port; berth/peer's answer. */
function udpAsk(address: string, port: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`udp ${address}:${port}: no answer in 3 s`));
    }, 3000);
    s.on('message', (m) => {
      clearTimeout(timer);
      const localPort = s.address().port;
      s.close();
      resolve(parse(m.toString(), localPort));
    });
    s.send('hello-mesh', port, address);
  });
}

describe('e2e routing mesh: a published port on every host', function () {
  this.timeout(240_000);
  let th: TestHosts | undefined;

  after(async () => {
    await th?.stop();
  });

  it('answers on every host over TCP and UDP, keeps or tells the client address, refuses clashing ports', async () => {
    const hosts = await startTestHosts({
      hosts: ['a', 'b', 'c'],
      prefix: 'mesh',
      serverArgs: ['--node-subnets', '{range}.128.0/17', '--service-addresses', '{range}.64.0/18'],
    });
    th = hosts;
    const config = hosts.server.configPath;
    const [a, b, c] = [hosts.host('a'), hosts.host('b'), hosts.host('c')];
    const manifest = `${peerService('mesh', b.nodeName, MESH_PORT, false)}---\n${peerService('pp', c.nodeName, PROXY_PORT, true)}`;
    const r = await runBerth(['apply', '-f', '-'], { config, input: manifest });
    assert.equal(r.code, 0, r.stderr);

    let tasks: Task[] = [];
    await eventually(async () => {
      tasks = (await listTasks(hosts.server)).filter((t) => t.status.state === 'running' && t.desiredState === 'running');
      return tasks.length === 2 && tasks.every((t) => t.status.address);
    }, 90_000, 'both tasks running with cluster addresses');
    const hostnameOf = async (svc: string, key: string) => {
      const t = tasks.find((x) => x.serviceName === svc)!;
      return hosts.host(key).docker('inspect', t.name, '--format', '{{.Config.Hostname}}');
    };
    const meshHost = await hostnameOf('mesh', 'b');
    const ppHost = await hostnameOf('pp', 'c');

    for (const h of [a, b, c]) {
      // TCP through the mesh, on hosts with and without the task.
      const t = await eventually(() => tcpAsk(h.address, MESH_PORT), 30_000, `tcp ${MESH_PORT} on host ${h.key}`);
      assert.equal(t.host, meshHost, `host ${h.key}: answered by the mesh service's task`);
      // UDP through the mesh.
      const u = await eventually(() => udpAsk(h.address, MESH_PORT), 30_000, `udp ${MESH_PORT} on host ${h.key}`);
      assert.equal(u.host, meshHost, `host ${h.key}: udp answered by the task`);
      if (h === b) {
        assert.equal(t.peer, hosts.gateway, 'on the task\'s own host the backend sees the client\'s own address (tcp)');
        assert.equal(u.peer, hosts.gateway, 'and over udp');
      }

      // PROXY protocol v2: the backend is told the client's real address and port.
      const p = await eventually(() => tcpAsk(h.address, PROXY_PORT), 30_000, `tcp ${PROXY_PORT} on host ${h.key}`);
      assert.equal(p.host, ppHost);
      assert.equal(p.proxy, `${hosts.gateway}:${p.localPort}`, `host ${h.key}: the PROXY header names the client`);
      const pu = await eventually(() => udpAsk(h.address, PROXY_PORT), 30_000, `udp ${PROXY_PORT} on host ${h.key}`);
      assert.equal(pu.host, ppHost);
      assert.equal(pu.proxy, `${hosts.gateway}:${pu.localPort}`, `host ${h.key}: the PROXY header names the udp client`);
    }

    // Bad input: refused at apply, naming the field; nothing written.
    const clash = await runBerth(['apply', '-f', '-'], { config, input: peerService('other', a.nodeName, MESH_PORT, false) });
    assert.notEqual(clash.code, 0);
    assert.match(clash.stderr, /spec\.ports\[0\]\.publishedPort/);
    assert.match(clash.stderr, new RegExp(`${MESH_PORT}/tcp is already published by service "mesh"`));
    const outOfRange = await runBerth(['apply', '-f', '-'], { config, input: peerService('other', a.nodeName, 70000, false) });
    assert.notEqual(outOfRange.code, 0);
    assert.match(outOfRange.stderr, /spec\.ports\[0\]\.publishedPort/);
    const get = await runBerth(['get', 'service', 'other'], { config });
    assert.notEqual(get.code, 0, 'the refused service was not written');
  });
});
