import assert from 'node:assert/strict';
import { splitVerb } from '../../cli/args.js';
import { parseScaleArgs } from '../../cli/commands/scale.js';
import { runCli, webService, type Recorded } from '../helpers/berth.js';

describe('cli arguments', () => {
  it('finds the verb after global flags and their values', () => {
    assert.deepEqual(splitVerb(['--server', 'http://x', 'get', 'svc']), {
      verb: 'get',
      rest: ['--server', 'http://x', 'svc'],
      afterVerb: ['svc'],
    });
    assert.equal(splitVerb(['--config=/c', 'describe']).verb, 'describe');
    assert.equal(splitVerb(['-h']).verb, undefined);
  });

  it('an unknown verb exits 2 (usage) with one clear line and a pointer to help', async () => {
    const r = await runCli(['frobnicate']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `error: unknown command "frobnicate"\nSee 'berth --help' for usage.\n`);
    assert.equal(r.stdout, '');
  });

  it('an unknown flag exits 2 naming the flag and the verb', async () => {
    const r = await runCli(['get', 'svc', '--colour']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `error: unknown flag "--colour"\nSee 'berth get --help' for usage.\n`);
  });

  it('a flag without its value, an unknown kind and an unknown format are usage errors', async () => {
    const noValue = await runCli(['get', 'svc', '-o']);
    assert.equal(noValue.code, 2);
    assert.match(noValue.stderr, /^error: flag -o needs a value\n/);
    const atEnd = await runCli(['get', 'svc', '--server', 'http://s:1', '--output'], { flags: false });
    assert.equal(atEnd.stderr, `error: flag -o/--output needs a value\nSee 'berth get --help' for usage.\n`);
    const boolWithValue = await runCli(['get', 'svc', '--help=yes']);
    assert.match(boolWithValue.stderr, /^error: flag -h\/--help takes no value\n/);
    const kind = await runCli(['get', 'pods']);
    assert.equal(kind.code, 2);
    assert.match(kind.stderr, /^error: unknown resource type "pods": use one of services, tasks, nodes\n/);
    const format = await runCli(['get', 'svc', '-o', 'xml']);
    assert.equal(format.code, 2);
    assert.match(format.stderr, /^error: unknown output format "xml": use table, wide, json, yaml, name, jsonpath=TEMPLATE\n/);
    const filter = await runCli(['get', 'nodes', '--service', 'web']);
    assert.equal(filter.code, 2);
    assert.match(filter.stderr, /--service and --node apply to tasks only/);
  });

  it('--help lists every verb; <verb> --help shows its flags and an example; both exit 0', async () => {
    const root = await runCli(['--help']);
    assert.equal(root.code, 0);
    for (const verb of ['apply', 'get', 'describe', 'delete', 'scale', 'server', 'agent', 'version']) {
      assert.match(root.stdout, new RegExp(`^  ${verb} +\\S`, 'm'), verb);
    }
    const get = await runCli(['get', '--help']);
    assert.equal(get.code, 0);
    assert.match(get.stdout, /^ {2}-o, --output FORMAT +output format/m);
    assert.match(get.stdout, /^Examples:\n {2}berth get services$/m);
    assert.deepEqual(await runCli(['help', 'get']), get);
    const none = await runCli([], { flags: false });
    assert.equal(none.code, 0);
    assert.equal(none.stdout, root.stdout);
  });

  it('scale accepts --replicas N or NAME=N and refuses anything but a whole number', () => {
    assert.deepEqual(parseScaleArgs(['service', 'web'], '3'), { name: 'web', replicas: 3 });
    assert.deepEqual(parseScaleArgs(['svc/web=0'], undefined), { name: 'web', replicas: 0 });
    assert.deepEqual(parseScaleArgs(['service', 'web=5'], undefined), { name: 'web', replicas: 5 });
    assert.throws(() => parseScaleArgs(['service', 'web'], undefined), /missing --replicas N/);
    assert.throws(() => parseScaleArgs(['service', 'web'], '-1'), /whole number >= 0, not "-1"/);
    assert.throws(() => parseScaleArgs(['service', 'web=2'], '3'), /either as NAME=N or as --replicas N/);
    assert.throws(() => parseScaleArgs(['node', 'n1'], '3'), /unknown resource type "node": use one of services/);
  });

  it('scale posts the replicas and reports the new count', async () => {
    const log: Recorded[] = [];
    const scaled = { ...webService, spec: { ...webService.spec, replicas: 2 } };
    const r = await runCli(['scale', 'svc/web=2'], { log, routes: { 'POST /v1/services/web/scale': [200, scaled] } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'service/web scaled to 2 replicas\n');
    assert.deepEqual(log[0]?.body, { replicas: 2 });
  });

  it('delete continues past a missing service and exits 5 (not found)', async () => {
    const r = await runCli(['delete', 'service', 'gone', 'web'], {
      routes: {
        'DELETE /v1/services/gone': [404, { error: 'NotFound', message: 'service "gone" not found' }],
        'DELETE /v1/services/web': [200, { name: 'web', deleted: true }],
      },
    });
    assert.equal(r.code, 5);
    assert.equal(r.stdout, 'service/web deleted\n');
    assert.equal(r.stderr, 'error: service "gone" not found\n');
  });
});
