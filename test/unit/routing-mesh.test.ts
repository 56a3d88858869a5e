import assert from 'node:assert/strict';
import pino from 'pino';
import { proxyV2Header } from '../../agent/network/ingress-proxy.js';
import { filterRules, networkChain } from '../../agent/network/isolation-rules.js';
import { NodeNetworking } from '../../agent/network/node-network.js';
import { ingressChain, natRules } from '../../agent/network/service-rules.js';
import { validateService } from '../../common/manifest/validate.js';
import { hostPortOf, ingressPorts, portMode, publishedPortClashes } from '../../common/ports.js';
import type { PortSpec } from '../../common/types.js';
import { computeEndpoints } from '../../control-plane/dispatcher/service-addresses.js';

const svc = (ports: unknown[]) => ({ apiVersion: 'berth/v1', kind: 'Service', metadata: { name: 'web' }, spec: { image: 'x', ports } });
const paths = (ports: unknown[]) => validateService(svc(ports)).map((i) => i.path);

describe('routing mesh: published ports, rules and the PROXY v2 header', () => {
  it('reads a port\'s mode: ingress with publishedPort unless told host', () => {
    const ingress: PortSpec = { containerPort: 80, publishedPort: 8080 };
    const host: PortSpec = { containerPort: 80, publishedPort: 8080, mode: 'host' };
    assert.equal(portMode(ingress), 'ingress');
    assert.equal(hostPortOf(ingress), undefined, 'an ingress port binds nothing on the task\'s node');
    assert.equal(portMode(host), 'host');
    assert.equal(hostPortOf(host), 8080);
    assert.equal(portMode({ containerPort: 80, hostPort: 81 }), 'host');
    assert.deepEqual(ingressPorts({ ports: [ingress, host, { containerPort: 53, publishedPort: 53, protocol: 'udp', proxyProtocol: true }] }), [
      { publishedPort: 8080, targetPort: 80, protocol: 'tcp', proxyProtocol: false },
      { publishedPort: 53, targetPort: 53, protocol: 'udp', proxyProtocol: true },
    ]);
  });

  it('refuses bad published ports, naming the field', () => {
    assert.deepEqual(paths([{ containerPort: 80, publishedPort: 70000 }]), ['spec.ports[0].publishedPort']);
    assert.deepEqual(paths([{ containerPort: 80, publishedPort: 0 }]), ['spec.ports[0].publishedPort']);
    assert.deepEqual(paths([{ containerPort: 80, mode: 'ingress' }]), ['spec.ports[0].publishedPort']);
    assert.deepEqual(paths([{ containerPort: 80, publishedPort: 80, hostPort: 81 }]), ['spec.ports[0].hostPort']);
    assert.deepEqual(paths([{ containerPort: 80, hostPort: 81, proxyProtocol: true }]), ['spec.ports[0].proxyProtocol']);
    assert.deepEqual(paths([{ containerPort: 80, publishedPort: 80 }, { containerPort: 81, publishedPort: 80 }]), ['spec.ports[1].publishedPort']);
    assert.deepEqual(paths([{ containerPort: 80, publishedPort: 80 }, { containerPort: 80, publishedPort: 80, protocol: 'udp' }]), [], 'tcp and udp are two ports');
  });

  it('finds a published port another service has', () => {
    const others = [
      { name: 'a', ports: [{ containerPort: 80, publishedPort: 8080 }] },
      { name: 'b', ports: [{ containerPort: 80, hostPort: 9090 }] },
    ];
    assert.deepEqual(publishedPortClashes([{ containerPort: 1, publishedPort: 8080 }], others).map((i) => i.path), ['spec.ports[0].publishedPort']);
    assert.match(publishedPortClashes([{ containerPort: 1, publishedPort: 8080 }], others)[0]!.reason, /8080\/tcp is already published by service "a"/);
    assert.equal(publishedPortClashes([{ containerPort: 1, publishedPort: 9090 }], others).length, 1, 'an ingress port clashes with a host port');
    assert.equal(publishedPortClashes([{ containerPort: 1, hostPort: 8080 }], others).length, 1, 'a host port clashes with an ingress port');
    assert.equal(publishedPortClashes([{ containerPort: 1, hostPort: 9090 }], others).length, 0, 'two host ports of one number may run on different nodes');
    assert.equal(publishedPortClashes([{ containerPort: 1, publishedPort: 8080, protocol: 'udp' }], others).length, 0);
  });

  it('carries the ingress ports with the endpoints and writes marked DNAT rules, none for proxyProtocol ports', () => {
    const [ep] = computeEndpoints(new Map([['web', '10.2.0.1']]), [], new Map([['web', [{ publishedPort: 8080, targetPort: 80, protocol: 'tcp' as const, proxyProtocol: false }, { publishedPort: 8443, targetPort: 443, protocol: 'tcp' as const, proxyProtocol: true }]]]));
    const rules = natRules([{ ...ep!, addresses: ['10.1.0.2', '10.1.1.2'] }], [], { bridge: 'berth0', gateway: '10.1.0.1' });
    const ing = ingressChain('web', 8080, 'tcp');
    assert.match(rules, /-A BERTH-SERVICES -p tcp --dport 8080 -m addrtype --dst-type LOCAL ! -d 127.0.0.0\/8 .*-j MARK --set-xmark 0x2000\/0x2000/);
    assert.match(rules, new RegExp(`-A BERTH-SERVICES -p tcp --dport 8080 .*-j ${ing}`));
    assert.match(rules, new RegExp(`-A ${ing} -p tcp -m statistic --mode random --probability 0.5000000000 -j DNAT --to-destination 10.1.0.2:80`));
    assert.match(rules, new RegExp(`-A ${ing} -p tcp -j DNAT --to-destination 10.1.1.2:80`));
    assert.match(rules, /-A BERTH-POSTROUTING -m mark --mark 0x2000\/0x2000 ! -o berth0 .*-j SNAT --to-source 10.1.0.1/);
    assert.ok(!rules.includes('8443'), 'the forwarder owns a proxyProtocol port');
    assert.match(natRules([], [ing]), new RegExp(`-X ${ing}`), 'a port no longer published loses its chain');
  });

  it('encodes a PROXY v2 header for IPv4 and IPv6 clients', () => {
    const v4 = proxyV2Header('tcp', { address: '::ffff:10.0.0.9', port: 40000 }, { address: '10.0.0.2', port: 8080 });
    assert.equal(v4.subarray(0, 12).toString('hex'), '0d0a0d0a000d0a515549540a');
    assert.deepEqual([...v4.subarray(12, 16)], [0x21, 0x11, 0, 12]);
    assert.deepEqual([...v4.subarray(16, 24)], [10, 0, 0, 9, 10, 0, 0, 2]);
    assert.equal(v4.readUInt16BE(24), 40000);
    assert.equal(v4.readUInt16BE(26), 8080);
    const v6 = proxyV2Header('udp', { address: 'fd00::1', port: 1 }, { address: '::ffff:10.0.0.2', port: 2 });
    assert.deepEqual([...v6.subarray(12, 16)], [0x21, 0x22, 0, 36]);
    assert.equal(v6.subarray(16, 32).toString('hex'), 'fd000000000000000000000000000001');
    assert.equal(v6.subarray(32, 48).toString('hex'), '00000000000000000000ffff0a000002');
  });
});

describe('networks that isolate: filter rules and names', () => {
  const scope = { subnet: '10.1.0.0/24', clusterRange: '10.1.0.0/16', bridge: 'berth0' };
  const endpoints = [
    { service: 'sa', vip: '10.2.0.1', addresses: ['10.1.1.2'], networks: ['a'], members: ['10.1.1.2'] },
    { service: 'sb', vip: '10.2.0.2', addresses: ['10.1.1.3'], networks: ['b'], members: ['10.1.1.3', '10.1.1.4'] },
    { service: 'ca', vip: '10.2.0.3', addresses: ['10.1.0.2'], networks: ['a'], members: ['10.1.0.2'] },
    { service: 'cab', vip: '10.2.0.4', addresses: [], networks: ['a', 'b'], members: ['10.1.0.3'] },
  ];

  it('sends a local task to its networks\' chains and rejects the rest of the cluster; remote tasks are checked on their node', () => {
    const rules = filterRules(endpoints, scope, ['BERTH-NET-OLD']);
    const [a, b] = [networkChain('a'), networkChain('b')];
    assert.match(rules, /-A BERTH-ISOLATION ! -d 10.1.0.0\/16 -j RETURN/);
    assert.match(rules, new RegExp(`-A BERTH-ISOLATION -s 10.1.0.2/32 .*-j ${a}\\n-A BERTH-ISOLATION -s 10.1.0.2/32 .*-j REJECT`));
    assert.match(rules, new RegExp(`-A BERTH-ISOLATION -s 10.1.0.3/32 .*-j ${a}\\n-A BERTH-ISOLATION -s 10.1.0.3/32 .*-j ${b}\\n-A BERTH-ISOLATION -s 10.1.0.3/32 .*-j REJECT`));
    assert.ok(!rules.includes('-s 10.1.1.2/32'), 'another node\'s task is checked there');
    assert.match(rules, new RegExp(`-A ${a} -d 10.1.1.2/32 -j ACCEPT`));
    assert.match(rules, new RegExp(`-A ${b} -d 10.1.1.4/32 -j ACCEPT`), 'a member that is not ready yet is on its network');
    assert.ok(!new RegExp(`-A ${a} -d 10.1.1.3/32`).test(rules));
    assert.match(rules, /-X BERTH-NET-OLD/);
  });

  it('hides a name from a task with no network in common (NXDOMAIN), answers it to others', () => {
    const nn = new NodeNetworking({} as never, pino({ level: 'silent' }));
    nn.applyEndpoints(endpoints.map((e) => ({ ...e })));
    assert.deepEqual(nn.lookup('sa', '10.1.0.2'), ['10.2.0.1']);
    assert.equal(nn.lookup('sb', '10.1.0.2'), null);
    assert.equal(nn.lookup('tasks.sb', '10.1.0.2'), null);
    assert.deepEqual(nn.lookup('tasks.sb', '10.1.0.3'), ['10.1.1.3']);
    assert.deepEqual(nn.lookup('sb'), ['10.2.0.2'], 'the node itself sees every name');
    assert.equal(nn.lookup('example.com', '10.1.0.2'), undefined);
    void nn.close();
  });
});

describe('node loss: endpoints', () => {
  it('leaves out the tasks of a node judged down, before they are written orphaned', async () => {
    const { runningTask } = await import('../helpers/berth.js');
    const onB = { ...runningTask, id: 'b1', serviceName: 'srv', nodeId: 'node-b', desiredState: 'running' as const, status: { ...runningTask.status, state: 'running' as const, address: '10.1.1.2' } };
    const onC = { ...onB, id: 'c1', nodeId: 'node-c', status: { ...onB.status, address: '10.1.2.2' } };
    const vips = new Map([['srv', '10.2.0.1']]);
    assert.deepEqual(computeEndpoints(vips, [onB, onC])[0]!.addresses, ['10.1.1.2', '10.1.2.2']);
    const [ep] = computeEndpoints(vips, [onB, onC], new Map(), new Set(['node-b']));
    assert.deepEqual(ep!.addresses, ['10.1.2.2']);
    assert.deepEqual(ep!.members, ['10.1.2.2']);
  });
});
