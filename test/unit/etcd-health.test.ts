// A server's view of its etcd for its registration (ETCD column of `berth get servers`): every
// endpoint's /health and the store's own view, against real local HTTP endpoints.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { EtcdHealth, type EtcdHealthReport } from '../../control-plane/leader/etcd-health.js';

const logger = pino({ level: 'silent' });

async function endpoint(body: () => unknown): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('etcd health of a server', () => {
  it('healthy when every endpoint answers healthy and the store answers; names what does not', async () => {
    let health = 'true';
    const a = await endpoint(() => ({ health }));
    const b = await endpoint(() => ({ health: 'false', reason: 'RAFT NO LEADER' }));
    const down = await endpoint(() => ({}));
    await down.close();
    let answering = true;
    try {
      const one = new EtcdHealth({ endpoints: [a.url], storeAnswering: () => answering, logger });
      assert.deepEqual(await one.check(), { etcd: 'healthy' });
      answering = false;
      assert.deepEqual(await one.check(), { etcd: 'unhealthy', etcdProblems: ['the store\'s calls go unanswered'] });
      answering = true;
      const many = new EtcdHealth({ endpoints: [a.url, b.url, down.url], storeAnswering: () => true, logger });
      const r = await many.check();
      assert.equal(r.etcd, 'unhealthy');
      assert.deepEqual(r.etcdProblems, [`${b.url}: not healthy (RAFT NO LEADER)`, `${down.url}: ECONNREFUSED`]);

      // Changes are told once each, as they happen.
      const told: EtcdHealthReport[] = [];
      const watched = new EtcdHealth({ endpoints: [a.url], storeAnswering: () => true, logger, everyMs: 30 });
      assert.equal((await watched.start((x) => told.push(x))).etcd, 'healthy');
      health = 'false';
      await new Promise((res) => setTimeout(res, 200));
      health = 'true';
      await new Promise((res) => setTimeout(res, 200));
      watched.stop();
      assert.deepEqual(told.map((x) => x.etcd), ['unhealthy', 'healthy']);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
