import assert from 'node:assert/strict';
import { contains, formatCidr, nthSubnet, parseCidr, parseIpv4 } from '../../common/cidr.js';
import { NodeSubnets, routeChanged } from '../../control-plane/dispatcher/node-network.js';
import { parseServerFlags } from '../../cli/daemons/server-flags.js';
import { NodeAvailability, NodeState, type Node } from '../../common/types.js';

const node = (id: string, subnet?: string, address?: string): Node => ({
  id,
  name: id,
  labels: {},
  availability: NodeAvailability.Active,
  status: { state: NodeState.Ready, timestamp: '2026-01-01T00:00:00Z', ...(address ? { address } : {}) },
  capacity: { cpu: 1000, memory: 1 },
  allocatable: { cpu: 1000, memory: 1 },
  runtime: 'docker',
  ...(subnet ? { subnet } : {}),
  createdAt: '2026-01-01T00:00:00Z',
});

describe('node subnets', () => {
  it('parses CIDR blocks and refuses bad ones naming the field', () => {
    const c = parseCidr('10.240.0.0/16', '--node-subnets');
    assert.equal(formatCidr(nthSubnet(c, 24, 3)), '10.240.3.0/24');
    assert.ok(contains(c, parseIpv4('10.240.200.9')!));
    assert.ok(!contains(c, parseIpv4('10.241.0.1')!));
    assert.throws(() => parseCidr('10.240.0.1/16', '--node-subnets'), /--node-subnets "10.240.0.1\/16": host bits are set/);
    assert.throws(() => parseCidr('10.300.0.0/16', '--node-subnets'), /expected an IPv4 block/);
    assert.throws(() => parseCidr('10.0.0.0', '--node-subnets'), /expected an IPv4 block/);
  });

  it('picks the first block no node has nor was tried, and none when full', () => {
    const s = new NodeSubnets('10.240.0.0/23');
    assert.equal(s.pick([node('a', '10.240.0.0/24')], new Set()), '10.240.1.0/24');
    assert.equal(s.pick([], new Set(['10.240.0.0/24'])), '10.240.1.0/24');
    assert.equal(s.pick([node('a', '10.240.0.0/24'), node('b', '10.240.1.0/24')], new Set()), undefined);
    assert.ok(s.wants('docker') && !s.wants('process'));
  });

  it('sends a node its block and a route to every other node with a block and an address', () => {
    const s = new NodeSubnets('10.240.0.0/16');
    const nodes = [node('a', '10.240.0.0/24', '192.0.2.1'), node('b', '10.240.1.0/24', '192.0.2.2'), node('c'), node('d', '10.240.2.0/24')];
    assert.deepEqual(s.networkOf(nodes[0], nodes), {
      subnet: '10.240.0.0/24',
      clusterRange: '10.240.0.0/16',
      routes: [{ nodeId: 'b', address: '192.0.2.2', subnet: '10.240.1.0/24' }],
    });
    assert.equal(s.networkOf(nodes[2], nodes), undefined);
    assert.ok(routeChanged(nodes[0], { ...nodes[0]!, status: { ...nodes[0]!.status, address: '192.0.2.9' } }));
    assert.ok(!routeChanged(nodes[0], { ...nodes[0]!, labels: { x: 'y' } }));
  });
});

describe('berth server --node-subnets / --service-addresses', () => {
  it('takes both, refusing bad blocks, one without the other, and overlaps, naming the flag', () => {
    const ok = parseServerFlags(['--no-agent', '--node-subnets', '10.240.0.0/16', '--service-addresses', '10.241.0.0/16']);
    assert.equal(ok?.server.nodeSubnets, '10.240.0.0/16');
    assert.equal(ok?.server.serviceAddresses, '10.241.0.0/16');
    assert.throws(() => parseServerFlags(['--node-subnets', '10.240.0.1/16']), /--node-subnets "10.240.0.1\/16": host bits are set/);
    assert.throws(() => parseServerFlags(['--node-subnets', '10.240.0.0/25']), /--node-subnets "10.240.0.0\/25": must hold at least one \/24/);
    assert.throws(() => parseServerFlags(['--service-addresses', '10.241.0.0/16']), /--service-addresses needs --node-subnets/);
    assert.throws(
      () => parseServerFlags(['--node-subnets', '10.240.0.0/12', '--service-addresses', '10.241.0.0/16']),
      /--service-addresses "10.241.0.0\/16" overlaps --node-subnets "10.240.0.0\/12"/,
    );
  });
});
