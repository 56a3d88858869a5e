// A stack's services by their compose names: `<service>.<stack>[.berth]` and
// `tasks.<service>.<stack>[.berth]` answer as `<stack>-<service>`; a bare `db` is the container's
// search domain's job (`<stack>.berth`); a name under `.berth` that is no service is NXDOMAIN.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { pino } from 'pino';
import { answer, ClusterDns, parseQuery, stackAlias } from '../../agent/network/dns.js';

function query(name: string): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  return Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

describe('cluster DNS: stack service names', () => {
  it('maps <service>.<stack> to the Berth name stack deploy gives', () => {
    assert.equal(stackAlias('db.shop'), 'shop-db');
    assert.equal(stackAlias('DB.Shop.'), 'shop-db');
    assert.equal(stackAlias('my_db.shop'), 'shop-my-db');
    assert.equal(stackAlias('tasks.db.shop'), 'tasks.shop-db');
    assert.equal(stackAlias('tasks.shop'), 'shop-tasks', 'a service named tasks');
    assert.equal(stackAlias('db.shop.berth'), 'shop-db');
    assert.equal(stackAlias('tasks.db.shop.berth.'), 'tasks.shop-db');
    assert.equal(stackAlias('db'), undefined);
    assert.equal(stackAlias('shop-web.berth'), 'shop-web', 'any service by its Berth name');
    assert.equal(stackAlias('tasks.shop-web.berth'), 'tasks.shop-web');
    assert.equal(stackAlias('berth'), undefined);
    assert.equal(stackAlias('db..shop'), undefined);
  });

  it('answers a stack name from its service, and forwards what is no service', async () => {
    const upstream = dgram.createSocket('udp4');
    await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', r));
    upstream.on('message', (msg, from) => upstream.send(answer(msg, parseQuery(msg)!, ['192.0.2.7']), from.port, from.address));
    const names: Record<string, string[]> = { 'shop-db': ['10.2.0.5'], 'tasks.shop-db': ['10.1.0.2', '10.1.1.2'], 'shop.example': ['10.2.0.9'] };
    const dns = new ClusterDns((n) => names[n], pino({ level: 'silent' }), '127.0.0.1');
    dns.forwardPort = (upstream.address()).port;
    const port = 20000 + Math.floor(Math.random() * 20000);
    await dns.listen('127.0.0.1', port);
    const ask = async (name: string): Promise<string[] | 'NXDOMAIN'> => {
      const c = dgram.createSocket('udp4');
      const q = query(name);
      const res = await new Promise<Buffer>((resolve) => {
        c.once('message', resolve);
        c.send(q, port, '127.0.0.1');
      });
      c.close();
      if ((res.readUInt16BE(2) & 0xf) === 3) return 'NXDOMAIN';
      const out: string[] = [];
      let off = parseQuery(q)!.end;
      for (let i = 0; i < res.readUInt16BE(6); i++, off += 16) out.push([...res.subarray(off + 12, off + 16)].join('.'));
      return out;
    };
    try {
      assert.deepEqual(await ask('db.shop'), ['10.2.0.5']);
      assert.deepEqual(await ask('tasks.db.shop'), ['10.1.0.2', '10.1.1.2']);
      assert.deepEqual(await ask('shop.example'), ['10.2.0.9'], 'a service name itself wins over an alias');
      assert.deepEqual(await ask('cache.shop'), ['192.0.2.7'], 'no such service: forwarded');
      assert.deepEqual(await ask('db.shop.berth'), ['10.2.0.5']);
      assert.deepEqual(await ask('tasks.db.shop.berth'), ['10.1.0.2', '10.1.1.2']);
      assert.equal(await ask('shop-web.shop.berth'), 'NXDOMAIN', 'the cluster\'s domain is never forwarded');
      assert.deepEqual(await ask('shop-db.berth'), ['10.2.0.5']);
      assert.equal(await ask('nothing.berth'), 'NXDOMAIN');
    } finally {
      await dns.close();
      upstream.close();
    }
  });
});
