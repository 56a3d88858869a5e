// A stack's services find each other by their compose names across test hosts: a client task of
// stack `shop` on host A reaches the stack's `web` (its task on host B) as `web`, as
// `web.<stack>`, `web.<stack>.berth` and as the Berth name `<stack>-web`, all the service's
// virtual address; and `tasks.web.<stack>` lists its task. The cluster runs with node subnets and service addresses
// (docs/networking.md).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { listTasks, runBerth } from '../helpers/berth.js';
import { BUSYBOX_IMAGE } from '../helpers/docker.js';
import { startTestHosts, type TestHosts } from '../helpers/test-host.js';
import { addressesIn, plainAddress, WHO_SCRIPT } from '../helpers/net.js';

const STACK = 'shop';

describe('e2e stack names: services of a stack resolve each other by compose service name', function () {
  this.timeout(240_000);
  let th: TestHosts | undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-stnames-'));

  after(async () => {
    await th?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('web, web.shop and shop-web are the same service, from a task on another host', async () => {
    const hosts = await startTestHosts({
      hosts: ['a', 'b'],
      prefix: 'stn',
      serverArgs: ['--node-subnets', '{range}.128.0/17', '--service-addresses', '{range}.64.0/18'],
    });
    th = hosts;
    const config = hosts.server.configPath;
    const file = path.join(dir, 'compose.yaml');
    writeFileSync(
      file,
      `services:
  web:
    image: ${BUSYBOX_IMAGE}
    command: ["sh", "-c", ${JSON.stringify(WHO_SCRIPT.replace(/\$/g, '$$$$'))}]
    stop_grace_period: 1s
    deploy:
      placement:
        constraints: [node.hostname == ${hosts.host('b').nodeName}]
  client:
    image: ${BUSYBOX_IMAGE}
    command: sleep 3600
    stop_grace_period: 1s
    deploy:
      placement:
        constraints: [node.hostname == ${hosts.host('a').nodeName}]
`,
    );
    const r = await runBerth(['stack', 'deploy', '-c', file, STACK], { config });
    assert.equal(r.code, 0, r.stderr);

    let tasks: Task[] = [];
    await eventually(async () => {
      tasks = (await listTasks(hosts.server)).filter((t) => t.status.state === 'running' && t.desiredState === 'running');
      return tasks.length === 2 && tasks.every((t) => t.status.address);
    }, 90_000, 'both tasks running with cluster addresses');
    const client = tasks.find((t) => t.serviceName === `${STACK}-client`)!;
    const web = tasks.find((t) => t.serviceName === `${STACK}-web`)!;
    const exec = async (script: string) => {
      const res = await runBerth(['exec', client.name, '--', 'sh', '-c', script], { config, timeoutMs: 120_000 });
      assert.equal(res.code, 0, `exec ${script}: ${res.stdout} ${res.stderr}`);
      return res.stdout;
    };
    const ep = await runBerth(['get', 'endpoints', `${STACK}-web`, '-o', 'json'], { config });
    assert.equal(ep.code, 0, ep.stderr);
    const vip = (JSON.parse(ep.stdout) as { vip: string }).vip;

    assert.deepEqual(addressesIn(await exec(`nslookup web.${STACK}`), `web.${STACK}`), [vip]);
    assert.deepEqual(addressesIn(await exec(`nslookup tasks.web.${STACK}`), `tasks.web.${STACK}`), [web.status.address]);
    // By the bare compose name, as a program would connect (the search domain is the stack's).
    for (const name of ['web', `web.${STACK}`, `web.${STACK}.berth`, `${STACK}-web`]) {
      const out = await exec(`printf 'GET /cgi-bin/who HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${name} 8080 | tail -n 1`);
      assert.equal(plainAddress(out.trim().split(' ')[0]), client.status.address, `GET by ${name}: ${out}`);
    }
  });
});
