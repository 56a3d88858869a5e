// The dashboard's pieces that run without a browser: the ordered keys of its lists (placed one by
// one as changes come, equal to a full sort), and the server's /ui/ route (files, headers, no way
// out of the folder).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import fc from 'fast-check';
import { UI_CSP, UI_DIR, uiRoutes } from '../../control-plane/api/routes/ui.js';

interface Item {
  id: string;
  name: string;
}
interface Ordered {
  keys: string[];
  apply(changed: Set<string>): boolean;
}
type OrderedKeysClass = new (c: { items: Map<string, Item>; get(k: string): Item | undefined }, compare: (a: Item, b: Item) => number, include?: (o: Item) => boolean) => Ordered;

describe('dashboard: ordered keys of a list', () => {
  let OrderedKeys: OrderedKeysClass;
  before(async () => {
    // Plain browser modules, loaded as they are (no types).
    const modulePath = path.join(UI_DIR, 'pages', 'common.js');
    OrderedKeys = ((await import(modulePath)) as { OrderedKeys: OrderedKeysClass }).OrderedKeys;
  });

  const cmp = (a: Item, b: Item) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

  it('stays equal to a full sort through any sequence of adds, renames and deletes, in small or large batches', () => {
    const op = fc.record({ id: fc.integer({ min: 0, max: 40 }).map(String), name: fc.option(fc.string({ maxLength: 3 }), { nil: undefined }) });
    fc.assert(
      fc.property(fc.array(fc.array(op, { minLength: 1, maxLength: 80 }), { maxLength: 12 }), (batches) => {
        const items = new Map<string, Item>();
        const c = { items, get: (k: string) => items.get(k) };
        const include = (o: Item) => !o.name.startsWith('x');
        const ordered = new OrderedKeys(c, cmp, include);
        for (const batch of batches) {
          const changed = new Set<string>();
          for (const { id, name } of batch) {
            if (name === undefined) items.delete(id);
            else items.set(id, { id, name });
            changed.add(id);
          }
          ordered.apply(changed);
          const expected = [...items.values()].filter(include).sort(cmp).map((o) => o.id);
          assert.deepEqual(ordered.keys, expected);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('says nothing moved when a change keeps its place', () => {
    const items = new Map<string, Item>([['1', { id: '1', name: 'a' }], ['2', { id: '2', name: 'b' }]]);
    const ordered = new OrderedKeys({ items, get: (k) => items.get(k) }, cmp);
    items.set('1', { id: '1', name: 'a' });
    assert.equal(ordered.apply(new Set(['1'])), false);
    items.set('1', { id: '1', name: 'c' });
    assert.equal(ordered.apply(new Set(['1'])), true);
    assert.deepEqual(ordered.keys, ['2', '1']);
  });
});

describe('dashboard: the /ui/ route', () => {
  let dir = '';
  const app = Fastify();
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-ui-'));
    mkdirSync(path.join(dir, 'pages'));
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>x</title>');
    writeFileSync(path.join(dir, 'pages', 'a.js'), 'export const a = 1;');
    writeFileSync(path.join(dir, 'notes.txt'), 'not served');
    writeFileSync(path.join(path.dirname(dir), `${path.basename(dir)}-secret.js`), 'hidden-content-42');
    uiRoutes(app, dir);
    await app.ready();
  });
  after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(path.join(path.dirname(dir), `${path.basename(dir)}-secret.js`), { force: true });
  });

  it('serves index.html at /ui/ and the files under it, with a policy of this origin only', async () => {
    for (const [url, type] of [['/ui/', 'text/html'], ['/ui/index.html', 'text/html'], ['/ui/pages/a.js', 'text/javascript']] as const) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 200, url);
      assert.match(String(res.headers['content-type']), new RegExp(type));
      assert.equal(res.headers['content-security-policy'], UI_CSP);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }
    assert.doesNotMatch(UI_CSP, /https?:|\*|unsafe/);
    const redirect = await app.inject({ url: '/ui' });
    assert.equal(redirect.statusCode, 302);
    assert.equal(redirect.headers.location, '/ui/');
  });

  it('serves nothing outside the files of the folder, nor files of other types', async () => {
    for (const url of ['/ui/../' + path.basename(dir) + '-secret.js', '/ui/%2e%2e/' + path.basename(dir) + '-secret.js', '/ui/notes.txt', '/ui/nope.js']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode === 404 || res.statusCode === 400, true, `${url}: ${res.statusCode}`);
      assert.doesNotMatch(res.body, /hidden-content-42/);
    }
  });
});
