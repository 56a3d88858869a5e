// Every real compose file of the shared corpus converts, or fails only for services that need a
// build; and no key is dropped silently: each key of each service is honoured or reported, and
// each report names a key the file really has.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { convertProject, type Conversion } from '../../cli/stack/compose-convert.js';
import { HONOURED_DEPLOY_KEYS, HONOURED_SERVICE_KEYS } from '../../cli/stack/compose-keys.js';
import { loadCompose } from '../../cli/stack/compose-load.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const corpus = [process.env.BERTH_COMPOSE_CORPUS, path.join(root, '../shared/compose-corpus'), path.join(root, '../../shared/compose-corpus')].find(
  (d): d is string => !!d && existsSync(d),
);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

describe('compose corpus: stack convert of real files', function () {
  if (!corpus) {
    it.skip('the compose corpus (../shared/compose-corpus or $BERTH_COMPOSE_CORPUS) is not here');
    return;
  }
  const files = readdirSync(corpus).filter((f) => /\.ya?ml$/.test(f)).sort();
  it('has files', () => assert.ok(files.length >= 10));

  for (const file of files) {
    it(file, () => {
      const full = path.join(corpus, file);
      const raw = parse(readFileSync(full, 'utf8'), { merge: true }) as Obj;
      const services = raw.services as Record<string, Obj>;
      const needBuild = Object.entries(services).filter(([, s]) => s.build !== undefined && !s.image).map(([n]) => n);
      let c: Conversion;
      try {
        c = convertProject(loadCompose([full], { env: {} }), 'corpus', { env: {}, missingEnvFile: 'report' });
      } catch (err) {
        const lines = (err as Error).message.split('\n');
        assert.ok(needBuild.length, `unexpected error: ${(err as Error).message}`);
        assert.deepEqual(
          lines.map((l) => /services\.([^:]+): has build: and no image: there is no build on a cluster/.exec(l)?.[1]),
          needBuild,
          'only services that need a build fail, each named',
        );
        for (const l of lines) assert.match(l, new RegExp(`^${file.replace(/\./g, '\\.')}:\\d+ `), 'errors name the file and line');
        return;
      }
      assert.equal(needBuild.length, 0);
      assert.equal(c.services.length, Object.keys(services).length);
      const reported = (service: string, key: string) => c.reports.some((r) => r.services.includes(service) && (r.key === key || r.key.startsWith(`${key}.`)));
      for (const [name, svc] of Object.entries(services)) {
        for (const key of Object.keys(svc)) {
          assert.ok(HONOURED_SERVICE_KEYS.has(key) || reported(name, key), `services.${name}.${key}: neither honoured nor reported`);
        }
        for (const key of Object.keys(isObj(svc.deploy) ? svc.deploy : {})) {
          assert.ok(HONOURED_DEPLOY_KEYS.has(key) || reported(name, `deploy.${key}`), `services.${name}.deploy.${key}: neither honoured nor reported`);
        }
      }
      // Every report is about something the file has.
      for (const r of c.reports) {
        const [first, second] = r.key.split('.') as [string, string?];
        if (r.services[0] === '(top level)') {
          if (second) assert.ok(Object.values((raw[first] ?? {}) as Obj).some((d) => isObj(d) && second in d), `${r.key} is in the file`);
          else assert.ok(first in raw, `${r.key} is in the file`);
          continue;
        }
        for (const name of r.services) {
          const svc = services[name];
          assert.ok(svc, `report names service ${name} of the file`);
          assert.ok(first in svc || (first === 'ports' && 'ports' in svc), `${r.key} of service ${name} is in the file`);
          if (first === 'deploy' && second) assert.ok(isObj(svc.deploy) && second in svc.deploy, `${r.key} of service ${name} is in the file`);
        }
      }
    });
  }
});
