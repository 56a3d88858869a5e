import assert from 'node:assert/strict';
import { interpolateString, loadCompose, parseDotEnv, type ComposeMap } from '../../cli/stack/compose-load.js';

/** Files of a virtual folder /p, read through the loader's readText hook. */
function fsOf(files: Record<string, string>): (f: string) => string {
  return (f) => {
    const text = files[f];
    if (text === undefined) throw Object.assign(new Error(`ENOENT ${f}`), { code: 'ENOENT' });
    return text;
  };
}
const load = (files: Record<string, string>, names = ['/p/compose.yaml'], env: Record<string, string> = {}) =>
  loadCompose(names, { env, readText: fsOf(files) });
const svc = (m: ComposeMap, name: string) => (m.services as Record<string, ComposeMap>)[name]!;

describe('compose loader', () => {
  describe('interpolation', () => {
    const vars = { SET: 'v', EMPTY: '' };
    it('substitutes ${VAR}, $VAR and the default forms as compose does', () => {
      assert.equal(interpolateString('a-${SET}-$SET-${UNSET}', vars), 'a-v-v-');
      assert.equal(interpolateString('${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} ${SET:-d}', vars), 'd d  d v');
      assert.equal(interpolateString('${SET:+alt} ${UNSET:+alt} ${EMPTY+alt}', vars), 'alt  alt');
      assert.equal(interpolateString('${UNSET:-${SET}-x}', vars), 'v-x', 'a default holds further interpolation');
    });
    it('keeps $$ as a literal $', () => {
      assert.equal(interpolateString('echo $$HOME $${SET} a$$b', vars), 'echo $HOME ${SET} a$b');
    });
    it('fails on a missing ${VAR?msg} and ${VAR:?msg} with the message', () => {
      assert.throws(() => interpolateString('${DB_PASSWORD?set the database password}', vars), /required variable DB_PASSWORD is missing a value: set the database password/);
      assert.throws(() => interpolateString('${EMPTY:?must not be empty}', vars), /EMPTY is missing a value: must not be empty/);
      assert.equal(interpolateString('${EMPTY?unused}', vars), '', '? accepts an empty value, :? does not');
    });
    it('a missing required variable in a file names the file, line and key', () => {
      const yaml = 'services:\n  db:\n    image: postgres\n    environment:\n      PASSWORD: ${PG_PASS?set PG_PASS}\n';
      assert.throws(() => load({ '/p/compose.yaml': yaml }), (err: Error) => {
        assert.equal(err.message, 'compose.yaml:5 services.db.environment.PASSWORD: required variable PG_PASS is missing a value: set PG_PASS');
        return true;
      });
    });
    it('reads .env beside the first file; the environment wins over it', () => {
      const files = {
        '/p/compose.yaml': 'services:\n  web:\n    image: "nginx:${TAG}"\n    environment:\n      - A=${FROM_ENV}\n      - B=${BOTH}\n',
        '/p/.env': '# comment\nTAG=1.27\nexport FROM_ENV="quoted value"\nBOTH=file\n',
      };
      const p = load(files, ['/p/compose.yaml'], { BOTH: 'environment' });
      assert.equal(svc(p.model, 'web').image, 'nginx:1.27');
      assert.deepEqual(svc(p.model, 'web').environment, ['A=quoted value', 'B=environment']);
    });
    it('parses .env lines as compose does', () => {
      assert.deepEqual(parseDotEnv('A=1\n B = two \nC="x # y"\nD=z # comment\nE=\'single $X\'\n#F=no\nG'), { A: '1', B: 'two', C: 'x # y', D: 'z', E: 'single $X' });
    });
  });

  describe('YAML', () => {
    it('resolves anchors, << merges and ignores x- extension fields', () => {
      const yaml = [
        'x-common: &common',
        '  image: busybox',
        '  environment: &env',
        '    A: "1"',
        'services:',
        '  a:',
        '    <<: *common',
        '    command: ["sleep", "1"]',
        '  b:',
        '    <<: *common',
        '    environment:',
        '      <<: *env',
        '      B: "$${NOT_INTERPOLATED}"',
      ].join('\n');
      const p = load({ '/p/compose.yaml': yaml });
      assert.equal(svc(p.model, 'a').image, 'busybox');
      assert.deepEqual(svc(p.model, 'b').environment, { A: '1', B: '${NOT_INTERPOLATED}' });
    });
    it('reports a syntax error with file and line', () => {
      assert.throws(() => load({ '/p/compose.yaml': 'services:\n  web:\n    image: a\n   bad: [\n' }), { message: /^compose\.yaml:4 invalid YAML: / });
    });
    it('a file without services is an error', () => {
      assert.throws(() => load({ '/p/compose.yaml': 'version: "3"\n' }), /compose\.yaml: no services defined/);
    });
    it('a missing file is an error naming it', () => {
      assert.throws(() => load({}, ['/p/nope.yaml']), /\/p\/nope\.yaml: cannot read: no such file or directory/);
    });
  });

  describe('several files', () => {
    const base = [
      'services:',
      '  web:',
      '    image: web:1',
      '    command: ["serve", "--port", "80"]',
      '    environment: [A=1, B=2]',
      '    ports: ["80:80"]',
      '    volumes: ["data:/data", "./conf:/etc/conf:ro"]',
      '    deploy: { replicas: 2, resources: { limits: { memory: 128M } } }',
      '  db:',
      '    image: postgres',
      'volumes:',
      '  data: {}',
    ].join('\n');
    const over = [
      'services:',
      '  web:',
      '    image: web:2',
      '    command: ["serve"]',
      '    environment: { B: "3", C: "4" }',
      '    ports: ["80:80", "443:443"]',
      '    volumes: ["./other:/etc/conf"]',
      '    deploy: { resources: { limits: { cpus: "0.5" } } }',
      '  cache:',
      '    image: redis',
    ].join('\n');
    it('merges services by name, mappings deeply, and sequences per the Compose Specification', () => {
      const p = load({ '/p/compose.yaml': base, '/p/prod.yaml': over }, ['/p/compose.yaml', '/p/prod.yaml']);
      const web = svc(p.model, 'web');
      assert.equal(web.image, 'web:2');
      assert.deepEqual(web.command, ['serve'], 'command is replaced');
      assert.deepEqual(web.environment, { A: '1', B: '3', C: '4' }, 'environment merged by name, list and map forms alike');
      assert.deepEqual(web.ports, ['80:80', '443:443'], 'ports appended without duplicates');
      assert.deepEqual(web.volumes, ['data:/data', './other:/etc/conf'], 'volumes merged by target');
      assert.deepEqual(web.deploy, { replicas: 2, resources: { limits: { memory: '128M', cpus: '0.5' } } });
      assert.deepEqual(Object.keys(p.model.services as object), ['web', 'db', 'cache']);
    });
    it('an error in an override names the override file and its line', () => {
      const bad = 'services:\n  web:\n    environment:\n      X: ${NEED?give NEED}\n';
      assert.throws(() => load({ '/p/compose.yaml': base, '/p/o.yaml': bad }, ['/p/compose.yaml', '/p/o.yaml']), { message: /^o\.yaml:4 services\.web\.environment\.X: required variable NEED/ });
    });
    it('locates a path in the file that set it last', () => {
      const p = load({ '/p/compose.yaml': base, '/p/prod.yaml': over }, ['/p/compose.yaml', '/p/prod.yaml']);
      assert.equal(p.locate(['services', 'web', 'ports', 1]), 'prod.yaml:6');
      assert.equal(p.locate(['services', 'db', 'image']), 'compose.yaml:10');
    });
  });
});
