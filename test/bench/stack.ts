// `npm run bench:stack`: `berth stack deploy` of a 10-service stack (20 tasks) until every task
// runs, against `docker stack deploy` of the same file on Swarm mode of the same engine, in the
// same run, rounds alternating; prints the medians as one JSON object.
//
// Starts one `berth server` and one docker agent as child processes, then puts the engine in
// swarm mode (`docker swarm init --advertise-addr 127.0.0.1`) for the rounds only, and always
// leaves it (`docker swarm leave --force`), also on failure and Ctrl-C. Refuses to run if the
// engine is already in swarm mode (it is someone else's then). Removes every stack, container and
// process it created. Must not: change the system it measures.
//
//   npm run bench:stack [-- --rounds 3 --timeout 180]
import { cleanUpOnSignal } from './bench-kit.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Task } from '../../common/types.js';
import { errorMessage } from '../../common/errors.js';
import { sleep } from '../../common/sleep.js';
import { runBerth, startAgent, startServer, type TestAgent, type TestServer } from '../helpers/berth.js';
import { BUSYBOX_IMAGE, docker, ensureTestImages, removeContainersOfNodes, testNodeName, WEB_IMAGE } from '../helpers/docker.js';

const SERVICES = 10;
const REPLICAS = 2;

function progress(line: string): void {
  process.stderr.write(`[bench:stack ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Ten services of two replicas, busybox sleepers and berth/web servers alternating, no published ports. */
function composeFile(): string {
  const lines = ['services:'];
  for (let i = 1; i <= SERVICES; i++) {
    const web = i % 2 === 0;
    lines.push(`  s${i}:`, `    image: ${web ? WEB_IMAGE : BUSYBOX_IMAGE}`);
    if (!web) lines.push('    command: ["sleep", "3600"]');
    lines.push('    stop_grace_period: 1s', '    deploy:', `      replicas: ${REPLICAS}`);
  }
  return `${lines.join('\n')}\n`;
}

async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function runningBerthTasks(server: TestServer, stack: string): Promise<number> {
  const res = await server.fetch(`${server.url}/v1/tasks`, { headers: { authorization: `Bearer ${server.token}` }, signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET /v1/tasks: ${res.status}`);
  const { items } = (await res.json()) as { items: Task[] };
  return items.filter((t) => t.serviceName.startsWith(`${stack}-`) && t.desiredState === 'running' && t.status.state === 'running').length;
}

/** Running tasks of a swarm stack, from the services' replica counts (`2/2`): one CLI call. */
async function runningSwarmTasks(stack: string): Promise<number> {
  const out = await docker('service', 'ls', '--filter', `label=com.docker.stack.namespace=${stack}`, '--format', '{{.Replicas}}');
  return out
    .split('\n')
    .filter(Boolean)
    .reduce((n, r) => n + Number(r.split('/')[0]), 0);
}

async function swarmContainers(stack: string): Promise<string[]> {
  const out = await docker('ps', '-aq', '--filter', `label=com.docker.stack.namespace=${stack}`);
  return out ? out.split('\n') : [];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, timeout: { type: 'string', default: '180' } } });
  const rounds = Number(values.rounds);
  const timeoutMs = Number(values.timeout) * 1000;
  const total = SERVICES * REPLICAS;
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-bench-stack-'));
  const file = path.join(dir, 'compose.yaml');
  writeFileSync(file, composeFile());
  const nodeName = testNodeName('bstack');
  let server: TestServer | undefined;
  let agent: TestAgent | undefined;
  let swarm = false;
  const berthStacks: string[] = [];
  const swarmStacks: string[] = [];

  const leaveSwarm = async () => {
    if (!swarm) return;
    for (const s of swarmStacks) await docker('stack', 'rm', s).catch(() => undefined);
    await docker('swarm', 'leave', '--force').catch((err: unknown) => progress(`swarm leave failed: ${errorMessage(err)}`));
    swarm = false;
    progress('left swarm mode');
  };
  const cleanup = async () => {
    await leaveSwarm();
    if (server) for (const s of berthStacks) await runBerth(['stack', 'rm', s], { config: server.configPath }).catch(() => undefined);
    await agent?.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    await removeContainersOfNodes([nodeName]);
    for (const s of swarmStacks) {
      const ids = await swarmContainers(s).catch(() => []);
      if (ids.length) await docker('rm', '-f', ...ids).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  cleanUpOnSignal(cleanup, progress);

  const berthMs: number[] = [];
  const swarmMs: number[] = [];
  try {
    await ensureTestImages();
    if ((await docker('info', '--format', '{{.Swarm.LocalNodeState}}')) !== 'inactive') {
      throw new Error('the engine is already in swarm mode (not this benchmark\'s): not measuring');
    }
    server = await startServer({ extraArgs: ['--heartbeat-grace', '30'] });
    agent = startAgent(server, { name: nodeName, runtime: 'docker', cpu: '8', memory: '8Gi' });
    await until('the node ready', timeoutMs, async () => {
      const res = await server!.fetch(`${server!.url}/v1/nodes`, { headers: { authorization: `Bearer ${server!.token}` } });
      const { items } = (await res.json()) as { items: { name: string; status: { state: string } }[] };
      return items.some((n) => n.name === nodeName && n.status.state === 'ready') ? true : undefined;
    });
    swarm = true;
    await docker('swarm', 'init', '--advertise-addr', '127.0.0.1');
    progress(`swarm mode on; ${rounds} rounds of ${SERVICES} services x ${REPLICAS} replicas each`);

    for (let i = 1; i <= rounds; i++) {
      const order = i % 2 ? ['berth', 'swarm'] : ['swarm', 'berth'];
      for (const which of order) {
        if (which === 'berth') {
          const stack = `bb${i}`;
          berthStacks.push(stack);
          const t0 = Date.now();
          const r = await runBerth(['stack', 'deploy', '-c', file, stack], { config: server.configPath });
          if (r.code !== 0) throw new Error(`berth stack deploy: ${r.stderr}`);
          await until(`${total} berth tasks running`, timeoutMs, async () => ((await runningBerthTasks(server!, stack)) === total ? true : undefined));
          berthMs.push(Date.now() - t0);
          progress(`round ${i} berth: ${berthMs.at(-1)} ms`);
          const rm = await runBerth(['stack', 'rm', stack], { config: server.configPath });
          if (rm.code !== 0) throw new Error(`berth stack rm: ${rm.stderr}`);
          await until('the berth stack\'s containers gone', timeoutMs, async () => ((await docker('ps', '-aq', '--filter', `label=berth.node=${nodeName}`)) === '' ? true : undefined), 250);
          berthStacks.pop();
        } else {
          const stack = `sw${i}`;
          swarmStacks.push(stack);
          const t0 = Date.now();
          await docker('stack', 'deploy', '--resolve-image', 'never', '-c', file, stack);
          await until(`${total} swarm tasks running`, timeoutMs, async () => ((await runningSwarmTasks(stack)) === total ? true : undefined));
          swarmMs.push(Date.now() - t0);
          progress(`round ${i} swarm: ${swarmMs.at(-1)} ms`);
          await docker('stack', 'rm', stack);
          await until('the swarm stack\'s containers gone', timeoutMs, async () => ((await swarmContainers(stack)).length === 0 ? true : undefined), 250);
          swarmStacks.pop();
        }
      }
    }
  } finally {
    await cleanup();
  }
  const result = {
    benchmark: 'stack deploy to all tasks running',
    services: SERVICES,
    tasks: total,
    rounds,
    cpus: cpus().length,
    berth: { medianMs: median(berthMs), samplesMs: berthMs },
    swarm: { medianMs: median(swarmMs), samplesMs: swarmMs },
    berthVsSwarm: Number((median(berthMs) / median(swarmMs)).toFixed(2)),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err: unknown) => {
  progress(`failed: ${errorMessage(err)}`);
  process.exitCode = 1;
});
