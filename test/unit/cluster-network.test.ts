import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import pino from 'pino';
import { answer, ClusterDns, parseQuery } from '../../agent/network/dns.js';
import { natRules, serviceChain } from '../../agent/network/service-rules.js';
import { computeEndpoints, isEndpoint } from '../../control-plane/dispatcher/service-addresses.js';
import { runningTask } from '../helpers/berth.js';
import type { Task } from '../../common/types.js';

/** A DNS query for `name` (type A unless given). */
function query(name: string, type = 1, id = 0x1234): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, type, 0, 1])]);
}

/** The A records of a response. */
function aRecords(msg: Buffer, q: ReturnType<typeof parseQuery>): string[] {
  const count = msg.readUInt16BE(6);
  const out: string[] = [];
  let off = q!.end;
  for (let i = 0; i < count; i++) {
    out.push([...msg.subarray(off + 12, off + 16)].join('.'));
    off += 16;
  }
  return out;
}

const task = (over: Partial<Task>, status: Partial<Task['status']> = {}): Task => ({ ...runningTask, ...over, status: { ...runningTask.status, ...status } });

describe('cluster network: resolver, VIP rules, endpoints', () => {
  it('answers A queries with one record per address, TTL 0, and NODATA for other types', () => {
    const q = query('Tasks.Srv');
    const parsed = parseQuery(q)!;
    assert.equal(parsed.name, 'tasks.srv');
    const res = answer(q, parsed, ['10.0.0.2', '10.0.0.3']);
    assert.equal(res.readUInt16BE(0), 0x1234);
    assert.equal(res.readUInt16BE(2) & 0x800f, 0x8000, 'a response, NOERROR');
    assert.deepEqual(aRecords(res, parsed), ['10.0.0.2', '10.0.0.3']);
    const aaaa = query('srv', 28);
    assert.equal(answer(aaaa, parseQuery(aaaa)!, ['10.0.0.2']).readUInt16BE(6), 0);
    assert.equal(parseQuery(Buffer.from([1, 2, 3])), undefined);
  });

  it('serves cluster names and forwards the others upstream, relaying the answer', async () => {
    const upstream = dgram.createSocket('udp4');
    await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', r));
    upstream.on('message', (msg, from) => {
      const q = parseQuery(msg)!;
      upstream.send(answer(msg, q, ['192.0.2.7']), from.port, from.address);
    });
    const port = 20000 + Math.floor(Math.random() * 20000);
    const dns = new ClusterDns((n) => (n === 'srv' ? ['10.1.0.1'] : undefined), pino({ level: 'silent' }), '127.0.0.1');
    dns.forwardPort = upstream.address().port; // not 53 here
    await dns.listen('127.0.0.1', port);
    const ask = async (name: string) => {
      const c = dgram.createSocket('udp4');
      const q = query(name);
      const res = await new Promise<Buffer>((resolve) => {
        c.once('message', resolve);
        c.send(q, port, '127.0.0.1');
      });
      c.close();
      return aRecords(res, parseQuery(q));
    };
    try {
      assert.deepEqual(await ask('srv'), ['10.1.0.1']);
      assert.deepEqual(await ask('example.org'), ['192.0.2.7']);
    } finally {
      await dns.close();
      upstream.close();
    }
  });

  it('writes one chain per service with backends, equal odds, and deletes stale chains', () => {
    const rules = natRules(
      [
        { service: 'web', vip: '10.2.0.1', addresses: ['10.1.1.2', '10.1.0.2', '10.1.2.2'] },
        { service: 'idle', vip: '10.2.0.2', addresses: [] },
      ],
      ['BERTH-SVC-OLD', serviceChain('web')],
    );
    const web = serviceChain('web');
    assert.ok(web.length <= 28);
    assert.match(rules, new RegExp(`-A BERTH-SERVICES -d 10.2.0.1/32 .* -j ${web}`));
    assert.match(rules, new RegExp(`-A ${web} -m statistic --mode random --probability 0.3333333333 -j DNAT --to-destination 10.1.0.2`));
    assert.match(rules, new RegExp(`-A ${web} -m statistic --mode random --probability 0.5000000000 -j DNAT --to-destination 10.1.1.2`));
    assert.match(rules, new RegExp(`-A ${web} -j DNAT --to-destination 10.1.2.2`));
    assert.ok(!rules.includes('10.2.0.2'), 'a service without ready tasks gets no rule');
    assert.match(rules, /-X BERTH-SVC-OLD/);
    assert.ok(!rules.includes(`-X ${web}`));
  });

  it('lists only tasks wanted running, running, ready and addressed as endpoints', () => {
    const ok = task({ id: 't1', serviceName: 'web' }, { address: '10.1.0.2' });
    const stopping = task({ id: 't2', serviceName: 'web', desiredState: 'shutdown' }, { address: '10.1.0.3' });
    const noAddress = task({ id: 't3', serviceName: 'web' });
    const unhealthy = task({ id: 't4', serviceName: 'web', spec: { ...runningTask.spec, healthCheck: { tcp: { port: 80 } } } }, { address: '10.1.0.5', health: 'unhealthy' });
    assert.ok(isEndpoint(ok) && !isEndpoint(stopping) && !isEndpoint(noAddress) && !isEndpoint(unhealthy));
    assert.deepEqual(computeEndpoints(new Map([['web', '10.2.0.1'], ['db', '10.2.0.2']]), [ok, stopping, noAddress, unhealthy]), [
      { service: 'db', vip: '10.2.0.2', addresses: [] },
      { service: 'web', vip: '10.2.0.1', addresses: ['10.1.0.2'], members: ['10.1.0.2', '10.1.0.5'] },
    ]);
  });
});
