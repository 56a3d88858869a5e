// The agent's secret files on a real tmpfs (needs root, as the agent does): written with their
// modes, removed when the task ends, swept at agent start for tasks without an instance, and the
// tmpfs unmounted once no task has files on it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SecretFiles } from '../../agent/workloads/secret-files.js';
import { silentLogger } from '../helpers/etcd.js';
import { task } from '../helpers/builders.js';

const mounted = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);

describe('agent secret files (real tmpfs)', () => {
  let dataDir: string;
  let files: SecretFiles;
  const fetched: string[] = [];
  beforeEach(function () {
    if (process.getuid?.() !== 0) this.skip();
    dataDir = mkdtempSync(path.join(tmpdir(), 'berth-secret-files-'));
    files = new SecretFiles(dataDir, (taskId) => {
      fetched.push(taskId);
      return Promise.resolve({
        secrets: [{ name: 'a', data: Buffer.from('value-a') }, { name: 'b', data: Buffer.from('value-b') }],
        configs: [{ name: 'a', data: Buffer.from('config-a') }],
      });
    }, silentLogger);
  });
  afterEach(() => {
    if (!dataDir) return;
    if (mounted(files.root)) execFileSync('umount', [files.root]);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('writes configs beside the secrets (a config may share a secret\'s name), mode 0444 by default', async () => {
    const t = task({ spec: { image: 'x', secrets: [{ source: 'a' }], configs: [{ source: 'a' }] } });
    await files.prepare(t);
    assert.equal(readFileSync(files.fileOf(t.id, 'a'), 'utf8'), 'value-a');
    assert.equal(readFileSync(files.configFileOf(t.id, 'a'), 'utf8'), 'config-a');
    assert.equal(statSync(files.configFileOf(t.id, 'a')).mode & 0o777, 0o444);
    await files.release(t.id);
    assert.ok(!existsSync(path.join(files.root, t.id)));
  });

  it('writes each secret with its mode on a tmpfs, and removes a task\'s files when it ends', async () => {
    const t = task({ spec: { image: 'x', secrets: [{ source: 'a' }, { source: 'b', mode: '0444' }] } });
    await files.prepare(t);
    assert.ok(mounted(files.root), 'a tmpfs at <data-dir>/secrets');
    assert.equal(readFileSync(files.fileOf(t.id, 'a'), 'utf8'), 'value-a');
    assert.equal(statSync(files.fileOf(t.id, 'a')).mode & 0o777, 0o400);
    assert.equal(statSync(files.fileOf(t.id, 'b')).mode & 0o777, 0o444);
    assert.equal(statSync(path.join(files.root, t.id)).mode & 0o777, 0o700);
    await files.release(t.id);
    assert.ok(!existsSync(path.join(files.root, t.id)));
    await files.unmountIfUnused();
    assert.ok(!mounted(files.root), 'unmounted once no task has files');
  });

  it('at start, sweeps the files of tasks without an instance and keeps the others; unmounts when none is left', async () => {
    const kept = task({ spec: { image: 'x', secrets: [{ source: 'a' }] } });
    const gone = task({ spec: { image: 'x', secrets: [{ source: 'a' }] } });
    await files.prepare(kept);
    await files.prepare(gone);
    // A restarted agent: a new instance of SecretFiles on the same data dir, the tmpfs still mounted.
    const again = new SecretFiles(dataDir, () => Promise.reject(new Error('not asked')), silentLogger);
    await again.sweep([kept.id]);
    assert.deepEqual(readdirSync(again.root), [kept.id]);
    assert.ok(mounted(again.root));
    await again.sweep([]);
    assert.deepEqual(readdirSync(again.root), []);
    assert.ok(!mounted(again.root), 'no orphan mount');
  });

  it('refuses a task whose secret the control plane did not send', async () => {
    const t = task({ spec: { image: 'x', secrets: [{ source: 'missing' }] } });
    await assert.rejects(files.prepare(t), /secret "missing" was not sent/);
  });
});
