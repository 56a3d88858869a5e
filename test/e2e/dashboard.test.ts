// The web dashboard (/ui/) in headless Chromium against a real server and two docker agents, as an
// operator uses it: log in with a token, watch a service appear when applied and its nodes' usage
// figures show, see a killed container's task turn failed and be replaced, follow a task's logs,
// drain a node; a viewer's token sees the same cluster without the drain button or logs. Screenshots go to the test's
// output directory (test/helpers/browser.ts).
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Task } from '../../common/types.js';
import { eventually } from '../helpers/etcd.js';
import { serviceManifest } from '../helpers/manifest.js';
import { listTasks, ok, runBerth, type TestServer } from '../helpers/berth.js';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { BUSYBOX_IMAGE, docker, WEB_IMAGE } from '../helpers/docker.js';
import { launchChromium, testOutputDir } from '../helpers/browser.js';

/** Generous bound for a change to show (the live path is the watch; this is no timing target). */
const SHOWN_MS = 60_000;

describe('e2e dashboard: the web UI in headless Chromium (docker runtime)', function () {
  this.timeout(300_000);
  let cluster: TestCluster | undefined;
  let server: TestServer | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const services: string[] = [];
  let viewerToken = '';
  const out = testOutputDir('dashboard');
  const pageErrors: string[] = [];
  const socketUrls: string[] = [];

  const apply = async (name: string, body: string) => {
    services.push(name);
    ok(await runBerth(['apply', '-f', '-'], { config: server!.configPath, input: serviceManifest(name, body) }));
  };
  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(out, `${name}.png`), fullPage: true });

  /** A fresh browser context (its own sessionStorage), logged in with `token`. */
  const login = async (token: string): Promise<Page> => {
    const context = await browser!.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('websocket', (ws) => socketUrls.push(ws.url()));
    await page.goto(`${server!.url}/ui/`);
    await page.locator('#token').waitFor({ timeout: SHOWN_MS });
    await page.fill('#token', token);
    await page.click('form.login button[type=submit]');
    await page.locator('#who').waitFor({ state: 'visible' });
    await page.locator('#live.up').waitFor();
    return page;
  };
  const row = (page: Page, list: string, key: string) => page.locator(`[data-list="${list}"] .vrow[data-key="${key}"]`);

  before(async function () {
    this.timeout(150_000);
    cluster = await startCluster({ prefix: 'ui', agents: [{ name: 'n1' }, { name: 'n2' }] });
    server = cluster.server;
    viewerToken = ok(await runBerth(['token', 'create', 'watcher', '--role', 'viewer'], { config: server.configPath })).stdout.trim();
    browser = await launchChromium(server.dataDir);
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await cluster?.stop({ services });
  });

  afterEach(async () => {
    // Each test's pages go with it: their watches, log streams and polls would otherwise load
    // the server and the browser for every later test.
    const errors = [...pageErrors];
    for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
    assert.deepEqual(errors, [], 'no script error in the page');
  });

  it('serves the page with a policy of this origin only, refuses a wrong token, and logs in', async () => {
    const context = await browser!.newContext();
    contexts.push(context);
    const page = await context.newPage();
    const res = await page.goto(`${server!.url}/ui/`);
    assert.equal(res?.status(), 200);
    const csp = res?.headers()['content-security-policy'] ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /connect-src 'self'/);
    assert.doesNotMatch(csp, /https?:|\*/, 'no outside source allowed');

    await page.fill('#token', 'berth-api-not-a-token');
    await page.click('form.login button[type=submit]');
    await page.getByRole('alert').filter({ hasText: /not valid|Not logged in/ }).waitFor();
    await shot(page, 'login-refused');

    const admin = await login(server!.token);
    assert.equal(await admin.textContent('#who'), 'admin (admin)');
    for (const name of cluster!.nodeNames) {
      const id = cluster!.nodeIds.get(name)!;
      await row(admin, 'nodes', id).filter({ hasText: name }).filter({ hasText: 'ready' }).waitFor({ timeout: SHOWN_MS });
    }
    assert.ok(!admin.url().includes(server!.token), 'no token in the page URL');
  });

  it('shows a service when it is applied, and its replicas becoming ready, without reloading', async () => {
    const page = await login(server!.token);
    let reloaded = false;
    page.on('load', () => (reloaded = true));
    await apply('web', `image: ${WEB_IMAGE}\nreplicas: 3\nstopGracePeriodSeconds: 1`);
    const web = row(page, 'services', 'web');
    await web.waitFor({ timeout: SHOWN_MS });
    await web.filter({ hasText: '3/3' }).filter({ hasText: 'healthy' }).waitFor({ timeout: 120_000 });
    assert.equal(reloaded, false, 'the page was not reloaded');
    // Once the agents report (every 5 s), a node running web's containers shows the memory they use.
    const nodeId = cluster!.nodeIds.get(cluster!.nodeNames[0]!)!;
    const usage = row(page, 'nodes', nodeId).locator('.cell.usage');
    await usage.filter({ hasText: /^\d+m? · [1-9]\d*(\.\d)?(B|Ki|Mi|Gi)$/ }).waitFor({ timeout: SHOWN_MS });
    await shot(page, 'overview');
    await page.click('[data-list="services"] a[href="#/services/web"]');
    await page.getByTestId('replicas').filter({ hasText: '3/3 ready' }).waitFor({ timeout: SHOWN_MS });
    await page.getByTestId('revisions').filter({ hasText: '1 (current)' }).waitFor();
    // The tasks' watch opens with this page: wait for its rows before counting them.
    await page.locator('[data-list="tasks"] .vrow.live').nth(2).waitFor({ timeout: SHOWN_MS });
    assert.equal(await page.locator('[data-list="tasks"] .vrow.live').count(), 3);
    await shot(page, 'service');
  });

  it('shows a task turn failed and its replacement start when its container is killed', async () => {
    const srv = server!;
    await apply('victim', `image: ${BUSYBOX_IMAGE}\ncommand: ["sleep", "3600"]\nreplicas: 2\nstopGracePeriodSeconds: 1`);
    const page = await login(srv.token);
    await page.goto(`${srv.url}/ui/#/services/victim`);
    const running = (tasks: Task[]) => tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');
    await eventually(async () => running(await listTasks(srv, '--service', 'victim')).length === 2, 90_000, '2 running');
    const [target] = running(await listTasks(srv, '--service', 'victim')).sort((a, b) => a.slot - b.slot);
    assert.ok(target?.status.containerId);
    await row(page, 'tasks', target.id).filter({ hasText: 'running' }).waitFor({ timeout: SHOWN_MS });

    await docker('kill', target.status.containerId);

    await row(page, 'tasks', target.id).filter({ hasText: 'failed' }).waitFor({ timeout: SHOWN_MS });
    const replacement = await eventually(
      async () => running(await listTasks(srv, '--service', 'victim')).find((t) => t.slot === target.slot && t.id !== target.id),
      60_000,
      'a replacement in the same slot',
    );
    await row(page, 'tasks', replacement!.id).filter({ hasText: 'running' }).waitFor({ timeout: SHOWN_MS });
    assert.match((await row(page, 'tasks', target.id).textContent()) ?? '', /failed/);
    await shot(page, 'task-replaced');
  });

  it("follows a task's logs live", async () => {
    const srv = server!;
    await apply('talker', `image: ${BUSYBOX_IMAGE}\ncommand: ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.5; done"]\nreplicas: 1\nstopGracePeriodSeconds: 1`);
    const page = await login(srv.token);
    await page.goto(`${srv.url}/ui/#/services/talker`);
    const task = await eventually(
      async () => (await listTasks(srv, '--service', 'talker')).find((t) => t.status.state === 'running'),
      90_000,
      'talker running',
    );
    const logsButton = row(page, 'tasks', task!.id).locator('button[data-action="logs"]');
    await row(page, 'tasks', task!.id).filter({ hasText: 'running' }).waitFor({ timeout: SHOWN_MS });
    await logsButton.click();
    const lines = page.getByTestId('log-lines');
    await lines.filter({ hasText: /tick \d+/ }).waitFor({ timeout: SHOWN_MS });
    const lastTick = async () => Math.max(...[...((await lines.textContent()) ?? '').matchAll(/tick (\d+)/g)].map((m) => Number(m[1])));
    const first = await lastTick();
    // New lines arrive on the open stream, without another click.
    await eventually(async () => (await lastTick()) >= first + 3, 30_000, `lines after tick ${first}`);
    await shot(page, 'logs');
  });

  it('drains a node as admin: the node shows drain and its tasks move away', async () => {
    const srv = server!;
    const [name] = cluster!.nodeNames;
    const id = cluster!.nodeIds.get(name!)!;
    const page = await login(srv.token);
    await page.goto(`${srv.url}/ui/#/nodes/${id}`);
    await page.getByTestId('availability').filter({ hasText: 'active' }).waitFor({ timeout: SHOWN_MS });
    await eventually(async () => (await listTasks(srv)).some((t) => t.nodeId === id && t.desiredState === 'running'), 30_000, 'a task on the node');
    await page.click('[data-testid="node-actions"] button[data-action="drain"]');
    await page.getByTestId('availability').filter({ hasText: 'drain' }).waitFor({ timeout: SHOWN_MS });
    await eventually(async () => (await page.locator('[data-list="node-tasks"] .vrow.live').count()) === 0, 90_000, 'no live task left on the drained node');
    const nodes = await eventually(async () => {
      const r = await runBerth(['get', 'nodes', name!], { config: srv.configPath });
      return /drain/.test(r.stdout) ? r.stdout : undefined;
    }, 10_000, 'the CLI to show drain');
    assert.match(nodes!, /drain/);
    await shot(page, 'node-drained');
    await page.click('[data-testid="node-actions"] button[data-action="active"]');
    await page.getByTestId('availability').filter({ hasText: 'active' }).waitFor({ timeout: SHOWN_MS });
  });

  it('a viewer sees the cluster but no drain button and no logs', async () => {
    const srv = server!;
    const page = await login(viewerToken);
    assert.equal(await page.textContent('#who'), 'watcher (viewer)');
    await row(page, 'services', 'web').waitFor({ timeout: SHOWN_MS });
    const id = cluster!.nodeIds.get(cluster!.nodeNames[1]!)!;
    await page.goto(`${srv.url}/ui/#/nodes/${id}`);
    await page.getByTestId('availability').waitFor({ timeout: SHOWN_MS });
    await page.locator('[data-list="node-tasks"] .vrow').first().waitFor({ timeout: SHOWN_MS });
    assert.equal(await page.locator('[data-testid="node-actions"] button').count(), 0, 'no availability buttons');
    await page.goto(`${srv.url}/ui/#/services/web`);
    await page.locator('[data-list="tasks"] .vrow.live').first().waitFor({ timeout: SHOWN_MS });
    assert.equal(await page.locator('button[data-action="logs"]').count(), 0, 'no logs button');
    await shot(page, 'viewer-service');
    // Every watch carried its token in a subprotocol, never in its URL.
    assert.ok(socketUrls.length >= 3);
    for (const u of socketUrls) assert.doesNotMatch(u, /token=/, u);
  });
});
