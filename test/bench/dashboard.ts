// `npm run bench:dashboard -- --nodes 1000 --tasks 10000`: the web dashboard against a cluster of
// hollow nodes (as `npm run bench` starts them: its own etcd, one server, hollow-node runners,
// services of 1,000 replicas each), measured in headless Chromium (see docs/performance.md):
//   - the login page's first contentful paint (Chromium's paint timing);
//   - from the login click to the overview showing every node ready and every service;
//   - from opening a service's page to its tasks shown (the page's first task watch: all tasks);
//   - the delay from a change written to etcd (a node's availability, put straight into the
//     store) to the change in the page's DOM, R rounds; p50, p99, max.
// Prints one JSON line and a short table. Stops every process it started, also on failure.
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { Node } from '../../common/types.js';
import { keys } from '../../control-plane/store/keys.js';
import { Store } from '../../control-plane/store/store.js';
import { launchChromium } from '../helpers/browser.js';
import { benchServices } from './hollow-size.js';
import { percentile, round } from './measure.js';
import { startEtcd, startHollow, startServer, stopAll } from './procs.js';
import { TaskTracker } from './task-tracker.js';

const SERVICES_PER_APPLY = 25;

/** The little of the DOM the page functions use (the bench compiles without the DOM's types). */
interface PageDocument {
  querySelector(s: string): { textContent: string | null } | null;
  querySelectorAll(s: string): { length: number };
}

function progress(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { nodes: { type: 'string' }, tasks: { type: 'string' }, rounds: { type: 'string' }, dist: { type: 'boolean' } } });
  const nodes = Number(values.nodes ?? 1000);
  const tasks = Number(values.tasks ?? 10000);
  const rounds = Number(values.rounds ?? 20);
  for (const [name, v] of [['--nodes', nodes], ['--tasks', tasks], ['--rounds', rounds]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a whole number of at least 1 (got ${String(v)})`);
  }
  const etcd = await startEtcd();
  const server = await startServer({ etcdUrl: etcd.url, ...(values.dist ? { dist: true } : {}) });
  const tracker = new TaskTracker(etcd.url);
  const store = new Store({ endpoints: [etcd.url], prefix: '/berth/', logger: pino({ level: 'silent' }), timeoutMs: 60_000 });
  const browser = await launchChromium(server.dataDir);
  try {
    for (let first = 0, per = 2500; first < nodes; first += per) await startHollow(server, Math.min(per, nodes - first), first);
    for (let i = 0; (await tracker.readyNodes()) < nodes; i++) {
      if (i > 600) throw new Error('nodes not ready after 5 minutes');
      if (i % 10 === 0) progress(`${await tracker.readyNodes()}/${nodes} nodes ready`);
      await new Promise((r) => setTimeout(r, 500));
    }
    await tracker.start();
    const services = benchServices(tasks);
    for (let i = 0; i < services.length; i += SERVICES_PER_APPLY) {
      const res = await server.fetch(`${server.apiUrl}/v1/apply`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ items: services.slice(i, i + SERVICES_PER_APPLY) }),
      });
      if (!res.ok) throw new Error(`apply failed: ${res.status} ${await res.text()}`);
    }
    // Until all run, or the count has not moved for 20 s (a few tasks may be restarting; the
    // dashboard is measured either way, with the count reported).
    const deadline = Date.now() + 60_000 + tasks * 10;
    let last = -1;
    let lastMove = Date.now();
    while (tracker.running < tasks && Date.now() < deadline && Date.now() - lastMove < 20_000) {
      if (tracker.running !== last) [last, lastMove] = [tracker.running, Date.now()];
      progress(`${tracker.running}/${tasks} tasks running`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    const tasksRunning = tracker.running;
    progress(`${nodes} nodes, ${tasksRunning}/${tasks} tasks running: opening the dashboard`);

    const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.apiUrl}/ui/`);
    await page.waitForSelector('#token');
    const fcp = await page.evaluate<number>(`(performance.getEntriesByName('first-contentful-paint')[0] || { startTime: 0 }).startTime`);

    await page.fill('#token', server.token);
    const tLogin = Date.now();
    await page.click('form.login button[type=submit]');
    await page.waitForFunction(
      ({ n, svcs }) => {
        const d = (globalThis as unknown as { document: PageDocument }).document;
        const text = d.querySelector('[data-testid=summary]')?.textContent ?? '';
        return text.includes(`${n}/${n} nodes ready`) && text.includes(`/${svcs} services`) && d.querySelectorAll('[data-list=nodes] .vspacer .vrow').length > 0;
      },
      { n: nodes, svcs: services.length },
      { timeout: 120_000, polling: 'raf' },
    );
    const overviewMs = Date.now() - tLogin;
    const overviewRows = await page.evaluate<number>(`document.querySelectorAll('[data-list=nodes] .vspacer .vrow:not([hidden])').length`);

    const tService = Date.now();
    await page.evaluate(`location.hash = '#/services/bench-0'`);
    const perService = Math.min(1000, tasks);
    await page.waitForFunction(
      // Every task of the service in the list (30 px a row; ended tasks of its slots count too).
      (height) => {
        const d = (globalThis as unknown as { document: PageDocument }).document;
        return parseInt((d.querySelector('[data-list=tasks] .vspacer') as { style: { height: string } } | null)?.style.height ?? '0', 10) >= height;
      },
      perService * 30,
      { timeout: 120_000, polling: 'raf' },
    ).catch(async (err: Error) => {
      await page.screenshot({ path: '/tmp/bench-dashboard-failed.png' });
      const shown = await page.evaluate<string>(`document.querySelector('[data-list=tasks] .vspacer')?.style.height`);
      throw new Error(`${err.message} (task list height ${shown})`);
    });
    const serviceMs = Date.now() - tService;
    const serviceRows = await page.evaluate<number>(`document.querySelectorAll('[data-list=tasks] .vspacer .vrow:not([hidden])').length`);

    // Back to the overview; the first node row in view is the one changed.
    await page.evaluate(`location.hash = '#/'`);
    await page.waitForSelector('[data-list=nodes] .vspacer .vrow');
    const nodeId = await page.evaluate<string>(`document.querySelector('[data-list=nodes] .vspacer .vrow').dataset.key`);
    const delays: number[] = [];
    /** Changes not shown within 15 s. */
    let missed = 0;
    for (let i = 0; i < rounds; i++) {
      const want = i % 2 === 0 ? 'pause' : 'active';
      await page.evaluate(`window.__seen = new Promise((resolve) => {
        const list = document.querySelector('[data-list=nodes]');
        const check = () => {
          const row = list.querySelector('.vrow[data-key="${nodeId}"]');
          if (row && row.children[2].textContent === '${want}') { obs.disconnect(); resolve(performance.timeOrigin + performance.now()); }
        };
        const obs = new MutationObserver(check);
        obs.observe(list, { subtree: true, childList: true, characterData: true });
        setTimeout(() => { obs.disconnect(); resolve(-1); }, 15000);
        check();
      }); true`);
      const node = await store.get<Node>(keys.node(nodeId));
      if (!node) throw new Error(`node ${nodeId} not in etcd`);
      const tPut = Date.now();
      await store.put(keys.node(nodeId), { ...node, version: undefined, availability: want });
      const seenAt = await page.evaluate<number>(`window.__seen`);
      if (seenAt < 0) missed++;
      else delays.push(seenAt - tPut);
      await new Promise((r) => setTimeout(r, 300));
    }
    const result = {
      nodes,
      tasks,
      tasksRunning,
      loginFirstContentfulPaintMs: round(fcp, 0),
      overviewShownMs: overviewMs,
      overviewNodeRowsInDom: overviewRows,
      serviceTasksShownMs: serviceMs,
      serviceTasks: perService,
      serviceTaskRowsInDom: serviceRows,
      changeToScreenP50Ms: round(percentile(delays, 50), 0),
      changeToScreenP99Ms: round(percentile(delays, 99), 0),
      changeToScreenMaxMs: round(Math.max(...delays), 0),
      rounds,
      missed,
      pageErrors: errors,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.stdout.write(
      [
        `dashboard, ${nodes} nodes x ${tasks} tasks`,
        `  login page first contentful paint   ${result.loginFirstContentfulPaintMs} ms`,
        `  login -> overview (all nodes ready)  ${overviewMs} ms  (${overviewRows} of ${nodes} node rows in the DOM)`,
        `  service page, ${perService} tasks shown     ${serviceMs} ms  (${serviceRows} task rows in the DOM)`,
        `  etcd change -> DOM, ${rounds} rounds       p50 ${result.changeToScreenP50Ms} ms, p99 ${result.changeToScreenP99Ms} ms, max ${result.changeToScreenMaxMs} ms (target <= 1000), ${missed} not shown within 15 s`,
      ].join('\n') + '\n',
    );
  } finally {
    await browser.close().catch(() => undefined);
    await tracker.stop().catch(() => undefined);
    store.close();
    await stopAll();
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  async (err: unknown) => {
    process.stderr.write(`bench:dashboard failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    await stopAll().catch(() => undefined);
    process.exit(1);
  },
);
