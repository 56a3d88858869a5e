// Networks that isolate, across two test hosts: `berth network create a|b`; servers `sa` (network
// a) and `sb` (network b) on host B; on host A a client on network a only and one on a and b. The
// first resolves and reaches `sa` but neither resolves `sb` nor reaches its task's address; the
// second resolves and reaches both. A service naming a network that does not exist is refused at
// apply (nothing written); a network in use cannot be removed.
import assert from 'node:assert/strict';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { listTasks, runBerth } from '../helpers/berth.js';
import { BUSYBOX_IMAGE } from '../helpers/docker.js';
import { addressesIn, WHO_SCRIPT } from '../helpers/net.js';
import { startTestHosts, type TestHosts } from '../helpers/test-host.js';

const service = (name: string, node: string, networks: string[], command: string) => `apiVersion: berth/v1
kind: Service
metadata:
  name: ${name}
spec:
  image: ${BUSYBOX_IMAGE}
  command: ["sh", "-c", ${JSON.stringify(command)}]
  replicas: 1
  stopGracePeriodSeconds: 1
  networks: ${JSON.stringify(networks)}
  placement:
    constraints: ["node.name == ${node}"]
  resources: { cpu: 100m, memory: 16Mi }
`;

/** "OK <answer>" or "FAIL": one GET of address:8080 from inside a task. */
const get = (address: string) => `r=$(printf 'GET /cgi-bin/who HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${address} 8080 | tail -n 1); echo "\${r:+OK $r}\${r:-FAIL}"`;

describe('e2e networks: a task resolves and reaches only services sharing one of its networks', function () {
  this.timeout(240_000);
  let th: TestHosts | undefined;

  after(async () => {
    await th?.stop();
  });

  it('isolates network a from network b, and lets a task on both reach each', async () => {
    const hosts = await startTestHosts({
      hosts: ['a', 'b'],
      prefix: 'iso',
      serverArgs: ['--node-subnets', '{range}.128.0/17', '--service-addresses', '{range}.64.0/18'],
    });
    th = hosts;
    const config = hosts.server.configPath;
    const [a, b] = [hosts.host('a'), hosts.host('b')];

    // A network that does not exist: refused, naming the field; nothing written.
    const missing = await runBerth(['apply', '-f', '-'], { config, input: service('sa', b.nodeName, ['a'], WHO_SCRIPT) });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /spec\.networks\[0\].*network "a" does not exist/);
    assert.notEqual((await runBerth(['get', 'service', 'sa'], { config })).code, 0, 'nothing written');

    for (const n of ['a', 'b']) {
      const r = await runBerth(['network', 'create', n], { config });
      assert.equal(r.code, 0, r.stderr);
    }
    const manifest = [
      service('sa', b.nodeName, ['a'], WHO_SCRIPT),
      service('sb', b.nodeName, ['b'], WHO_SCRIPT),
      service('ca', a.nodeName, ['a'], 'exec sleep 3600'),
      service('cab', a.nodeName, ['a', 'b'], 'exec sleep 3600'),
    ].join('---\n');
    const r = await runBerth(['apply', '-f', '-'], { config, input: manifest });
    assert.equal(r.code, 0, r.stderr);
    let tasks: Task[] = [];
    await eventually(async () => {
      tasks = (await listTasks(hosts.server)).filter((t) => t.status.state === 'running' && t.desiredState === 'running');
      return tasks.length === 4 && tasks.every((t) => t.status.address);
    }, 90_000, 'the four tasks running with cluster addresses');
    const taskOf = (svc: string) => tasks.find((t) => t.serviceName === svc)!;
    const exec = async (svc: string, script: string) => {
      const res = await runBerth(['exec', taskOf(svc).name, '--', 'sh', '-c', script], { config, timeoutMs: 60_000 });
      assert.equal(res.code, 0, `exec: ${res.stderr}`);
      return res.stdout;
    };
    const sbAddress = taskOf('sb').status.address!;
    const saAddress = taskOf('sa').status.address!;

    // On a and b: resolves and reaches both, by name and at their tasks' addresses.
    const both = await eventually(async () => {
      const out = await exec('cab', 'nslookup sa 2>&1; nslookup sb 2>&1');
      assert.equal(addressesIn(out, 'sa').length, 1, out);
      assert.equal(addressesIn(out, 'sb').length, 1, out);
      return out;
    }, 30_000, 'cab resolves sa and sb');
    const [vipA, vipB] = [addressesIn(both, 'sa')[0]!, addressesIn(both, 'sb')[0]!];
    for (const address of [vipA, vipB, saAddress, sbAddress]) {
      const answer = await eventually(async () => {
        const out = (await exec('cab', get(address))).trim();
        assert.match(out, /^OK /, `cab reaches ${address}`);
        return out;
      }, 30_000, `cab reaches ${address}`);
      assert.match(answer, /^OK /);
    }

    // On a only: sa resolves and answers; sb does not resolve, and its task's address does not answer.
    const onlyA = await exec('ca', 'nslookup sa 2>&1; echo ---; nslookup sb 2>&1; true');
    assert.equal(addressesIn(onlyA, 'sa')[0], vipA, `ca resolves sa:\n${onlyA}`);
    assert.deepEqual(addressesIn(onlyA.split('---')[1] ?? '', 'sb'), [], `ca does not resolve sb:\n${onlyA}`);
    assert.match((await exec('ca', get(vipA))).trim(), /^OK /, 'ca reaches sa by its VIP');
    assert.match((await exec('ca', get(saAddress))).trim(), /^OK /, 'ca reaches sa\'s task');
    assert.equal((await exec('ca', get(sbAddress))).trim(), 'FAIL', 'ca does not reach sb\'s task');
    assert.equal((await exec('ca', get(vipB))).trim(), 'FAIL', 'ca does not reach sb\'s VIP');

    // A network in use cannot be removed; ls shows who is on it.
    const rm = await runBerth(['network', 'rm', 'b'], { config });
    assert.notEqual(rm.code, 0);
    assert.match(rm.stderr, /network "b" is in use by service cab, sb|network "b" is in use by service sb, cab/);
    const ls = await runBerth(['network', 'ls'], { config });
    assert.match(ls.stdout, /^a\s+sa,ca,cab|^a\s+/m);
    assert.match(ls.stdout, /^default\s+/m);
  });
});
