// A whole application from one compose file, across three test hosts: a front end (published
// port, host A), an API (host B) and a store (host C) that find each other by compose service
// name; the store keeps its data on a named volume and reads a file secret through
// `STORE_PASSWORD_FILE=/run/secrets/store_password`; a one-off job seeds the store once the
// store is healthy, and the API starts only once the store is healthy and the job complete
// (depends_on). A GET in the front end's container, then on its published port (asked from host
// A's namespace), answers with what the job wrote and what the store made of its secret, through
// the API. `stack rm --volumes` leaves nothing: services, containers, the secret, the volume.
// Not here, waiting on their features: configs, and the stack's own networks (every service is
// on the cluster network meanwhile).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually } from '../helpers/etcd.js';
import { runBerth } from '../helpers/berth.js';
import { BUSYBOX_IMAGE } from '../helpers/docker.js';
import { startTestHosts, type TestHosts } from '../helpers/test-host.js';

const STACK = 'app';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const cgi = (body: string) => `#!/bin/sh\necho Content-Type: text/plain\necho\n${body}\n`;
const get = (host: string, p: string) => `printf 'GET ${p} HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${host} 8080 | tail -n 1`;
/** A busybox httpd on 8080 serving the CGI scripts given, after `before` ran. */
const server = (scripts: Record<string, string>, before = '') =>
  [
    'mkdir -p /w/cgi-bin',
    ...Object.entries(scripts).map(([name, body]) => `echo ${b64(cgi(body))} | base64 -d > /w/cgi-bin/${name} && chmod +x /w/cgi-bin/${name}`),
    before,
    'exec httpd -f -p 8080 -h /w',
  ]
    .filter(Boolean)
    .join('\n');
const run = (script: string) => `["sh", "-c", "echo ${b64(script)} | base64 -d > /start.sh && exec sh /start.sh"]`;

const compose = (hosts: TestHosts) => `
services:
  store:
    image: ${BUSYBOX_IMAGE}
    command: ${run(
      server(
        { get: 'echo "$(cat /data/value 2>/dev/null || echo empty) $(cat /data/secret)"', set: 'echo "$QUERY_STRING" > /data/value; echo ok' },
        'if [ "$(cat "$STORE_PASSWORD_FILE")" = "p4ss" ]; then echo secret-ok > /data/secret; else echo secret-bad > /data/secret; fi\n(sleep 3; touch /tmp/ready) &',
      ),
    )}
    environment:
      STORE_PASSWORD_FILE: /run/secrets/store_password
    secrets: [store_password]
    volumes: [data:/data]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      start_period: 60s
    deploy:
      placement:
        constraints: [node.hostname == ${hosts.host('c').nodeName}]
  migrate:
    image: ${BUSYBOX_IMAGE}
    command: ${run(`${get('store', '/cgi-bin/set?migrated')} | grep -q ok`)}
    depends_on:
      store:
        condition: service_healthy
    deploy:
      mode: replicated-job
  api:
    image: ${BUSYBOX_IMAGE}
    command: ${run(server({ api: get('store', '/cgi-bin/get') }))}
    stop_grace_period: 1s
    depends_on:
      store:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
    deploy:
      placement:
        constraints: [node.hostname == ${hosts.host('b').nodeName}]
  front:
    image: ${BUSYBOX_IMAGE}
    command: ${run(server({ front: get('api', '/cgi-bin/api') }))}
    stop_grace_period: 1s
    ports: ["18080:8080"]
    depends_on: [api]
    deploy:
      placement:
        constraints: [node.hostname == ${hosts.host('a').nodeName}]
secrets:
  store_password:
    file: ./store_password.txt
volumes:
  data:
`;

describe('e2e: a whole stack across test hosts', function () {
  this.timeout(300_000);
  let th: TestHosts | undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-stfull-'));

  after(async () => {
    if (th) await runBerth(['stack', 'rm', '--volumes', STACK], { config: th.server.configPath }).catch(() => undefined);
    await th?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves end to end by name, with its volume, secret, job and start order; rm --volumes leaves nothing', async () => {
    const hosts = await startTestHosts({
      hosts: ['a', 'b', 'c'],
      prefix: 'stf',
      serverArgs: ['--node-subnets', '{range}.128.0/17', '--service-addresses', '{range}.64.0/18'],
    });
    th = hosts;
    const config = hosts.server.configPath;
    const berth = (...args: string[]) => runBerth(args, { config, timeoutMs: 120_000 });
    const file = path.join(dir, 'compose.yaml');
    writeFileSync(file, compose(hosts));
    writeFileSync(path.join(dir, 'store_password.txt'), 'p4ss');
    const r = await berth('stack', 'deploy', '-c', file, STACK);
    assert.equal(r.code, 0, r.stderr);

    // Through the front end's own container first (names across hosts), then its published port.
    const front = await eventually(async () => {
      const { items } = JSON.parse((await berth('get', 'tasks', '--service', `${STACK}-front`, '-o', 'json')).stdout) as { items: { name: string; status: { state: string } }[] };
      return items.find((t) => t.status.state === 'running')?.name;
    }, 180_000, 'the front end running');
    const inside = await eventually(async () => {
      const res = await berth('exec', front!, '--', 'sh', '-c', get('127.0.0.1', '/cgi-bin/front'));
      return res.code === 0 && res.stdout.trim() ? res.stdout.trim() : undefined;
    }, 60_000, 'an answer from the front end');
    assert.equal(inside, 'migrated secret-ok', 'front -> api -> store, by name across hosts: the job\'s write and the secret, on the volume');
    // The published port, on host A's own address, asked from host A (the host's tools, not a task).
    const a = hosts.host('a');
    const url = `http://${a.address}:18080/cgi-bin/front`;
    const body = await eventually(async () => (await a.exec('curl', ['-sf', '--max-time', '10', url]).catch(() => '')) || undefined, 60_000, `an answer on the published port, ${url}`);
    assert.equal(body, 'migrated secret-ok');

    const events = (await berth('get', 'events')).stdout;
    assert.match(events, /TaskWaiting\s+task\/app-api\.1\.\S+\s+waiting for service app-store/, 'the api waited for the store');

    const rm = await berth('stack', 'rm', '--volumes', STACK);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, /secret\/app-store_password removed/);
    assert.match(rm.stdout, /volume\/app-data removed from node /);
    assert.equal((await berth('stack', 'ls')).stdout.split('\n').filter((l) => l.startsWith(`${STACK} `)).length, 0);
    assert.doesNotMatch((await berth('secret', 'ls')).stdout, /app-store_password/);
    await eventually(async () => {
      const left = await Promise.all(hosts.hosts.map((h) => h.docker('ps', '-aq', '--filter', 'label=berth.service')));
      return left.every((l) => l === '') ? true : undefined;
    }, 60_000, 'no container left on any host');
    assert.equal(await hosts.host('c').docker('volume', 'ls', '-q', '--filter', 'name=^app-data$'), '');
  });
});
