// The agent's list of servers: moving on when one does not answer, taking the servers' list,
// keeping it in the data dir for the next start, and spreading agents over the survivors.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { SERVERS_FILE, ServerList } from '../../agent/session/server-list.js';

const logger = pino({ level: 'silent' });

describe('agent server list', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'berth-servers-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('with only the configured address, stays on it', async () => {
    const list = new ServerList({ configured: 'a:7071', dir, logger });
    await list.load();
    assert.equal(list.current, 'a:7071');
    assert.equal(list.advance(), 'a:7071');
  });

  it('takes the servers\' list, keeps the address in use and the configured one, goes round all of them', async () => {
    const list = new ServerList({ configured: 'a:7071', dir, logger });
    assert.equal(await list.update(['a:7071', 'b:7071', 'c:7071']), true);
    assert.equal(list.current, 'a:7071');
    const seen = new Set([list.advance(), list.advance()]);
    assert.deepEqual([...seen].sort(), ['b:7071', 'c:7071']);
    assert.equal(list.advance(), 'a:7071', 'round again after all failed');
    assert.equal(await list.update(['a:7071', 'b:7071', 'c:7071']), false, 'the same set changes nothing');
    // A server that is gone drops out; the configured address stays (it may be a load balancer).
    await list.update(['b:7071', 'c:7071']);
    assert.deepEqual(list.all.sort(), ['a:7071', 'b:7071', 'c:7071']);
    await list.update(['c:7071']);
    assert.equal(list.current, 'a:7071');
    assert.deepEqual(list.all.sort(), ['a:7071', 'c:7071']);
  });

  it('keeps the list in the data dir: a restarted agent tries its configured server first, then the others', async () => {
    const first = new ServerList({ configured: 'a:7071', dir, logger });
    await first.update(['a:7071', 'b:7071', 'c:7071']);
    const kept = JSON.parse(await readFile(path.join(dir, SERVERS_FILE), 'utf8')) as { agentAddresses: string[] };
    assert.deepEqual(kept.agentAddresses, ['a:7071', 'b:7071', 'c:7071']);
    const again = new ServerList({ configured: 'a:7071', dir, logger });
    await again.load();
    assert.equal(again.current, 'a:7071');
    assert.deepEqual(again.all.sort(), ['a:7071', 'b:7071', 'c:7071']);
    assert.notEqual(again.advance(), 'a:7071', 'the next attempt goes to a server not on the command line');
  });

  it('ignores an unreadable servers.json', async () => {
    await writeFile(path.join(dir, SERVERS_FILE), '{ not json');
    const list = new ServerList({ configured: 'a:7071', dir, logger });
    await list.load();
    assert.deepEqual(list.all, ['a:7071']);
  });

  it('agents that lost the same server spread over the survivors', async () => {
    const firstPick = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const list = new ServerList({ configured: 'a:7071', logger });
      await list.update(['a:7071', 'b:7071', 'c:7071', 'd:7071']);
      const next = list.advance();
      firstPick.set(next, (firstPick.get(next) ?? 0) + 1);
    }
    assert.deepEqual([...firstPick.keys()].sort(), ['b:7071', 'c:7071', 'd:7071']);
    for (const [server, n] of firstPick) assert.ok(n > 50, `${server} was the first choice of only ${n} of 300 agents`);
  });
});
