// The backup file's format: sealed and opened with the passphrase; a wrong passphrase, any changed
// byte, a truncated file, another format and a short passphrase are refused with a clear message;
// nothing of the content is in the file in clear. And `berth server`'s backup flags.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { BackupError, checkPassphraseStrength, openBackup, parsePassphrase, sealBackup, type BackupContent } from '../../common/backup.js';
import { BackupSchedule, backupFileName } from '../../control-plane/backup/schedule.js';
import type { Store } from '../../control-plane/store/store.js';
import { parseServerFlags } from '../../cli/daemons/server-flags.js';

const cheap = { log2N: 10, r: 8, p: 1 };
const content: BackupContent = {
  format: 1,
  createdAt: '2026-12-06T08:00:00.000Z',
  berthVersion: '0.1.0',
  revision: 42,
  etcdPrefix: '/berth/',
  files: { 'ca.crt': 'CERT', 'ca.key': 'PRIVATE-KEY-MATERIAL', 'secrets.key': 'SECRETS-KEY' },
  keys: [{ key: 'services/web', value: Buffer.from('{"spec":{"image":"web"}}').toString('base64') }],
};
const pass = 'a long enough passphrase';

describe('backup archive', () => {
  it('opens what it sealed, with the same passphrase', async () => {
    const sealed = await sealBackup(content, pass, cheap);
    assert.equal(sealed.subarray(0, 8).toString(), 'BERTHBAK');
    assert.deepEqual(await openBackup(sealed, pass), content);
  });

  it('holds nothing in clear', async () => {
    const sealed = await sealBackup(content, pass, cheap);
    for (const clear of ['PRIVATE-KEY-MATERIAL', 'SECRETS-KEY', 'services/web', content.keys[0]!.value]) assert.ok(!sealed.includes(clear));
  });

  it('refuses a wrong passphrase, a changed byte anywhere and a truncated file', async () => {
    const sealed = await sealBackup(content, pass, cheap);
    await assert.rejects(openBackup(sealed, 'another passphrase!'), /wrong passphrase, or the file is damaged or truncated/);
    for (const at of [12, 20, 45, Math.floor(sealed.length / 2), sealed.length - 1]) {
      const changed = Buffer.from(sealed);
      changed[at] = changed[at]! ^ 1;
      await assert.rejects(openBackup(changed, pass), BackupError, `byte ${at}`);
    }
    for (const len of [0, 5, 30, 60, sealed.length - 1]) await assert.rejects(openBackup(sealed.subarray(0, len), pass), BackupError, `length ${len}`);
    await assert.rejects(openBackup(sealed.subarray(0, 30), pass), /truncated/);
  });

  it('names what is wrong with a file that is not a backup, or of another format', async () => {
    await assert.rejects(openBackup(Buffer.from('hello world, not a backup at all, really not'), pass, 'x.bbk'), /x\.bbk: not a Berth backup/);
    const sealed = await sealBackup(content, pass, cheap);
    sealed[8] = 9;
    await assert.rejects(openBackup(sealed, pass), /backup format 9 is not known to this version of Berth/);
  });

  it('reads a passphrase of one line and refuses short or empty ones', () => {
    assert.equal(parsePassphrase('secret words here\n', 'f'), 'secret words here');
    assert.throws(() => parsePassphrase('\n', 'f'), /f: the passphrase is empty/);
    assert.throws(() => parsePassphrase('a\nb\n', 'f'), /one line/);
    assert.throws(() => checkPassphraseStrength('short'), /at least 12 characters/);
  });
});

describe('scheduled backups', () => {
  it('writes files mode 0600 and keeps the newest N', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-sched-'));
    const dataDir = mkdtempSync(path.join(tmpdir(), 'berth-sched-data-'));
    try {
      writeFileSync(path.join(dataDir, 'ca.crt'), 'CERT');
      writeFileSync(path.join(dataDir, 'ca.key'), 'KEY');
      const store = { prefix: '/berth/', snapshot: () => Promise.resolve({ revision: 7, keys: [{ key: 'services/a', value: Buffer.from('{}') }] }) } as unknown as Store;
      const schedule = new BackupSchedule({ store, dataDir, passphrase: pass, everyMs: 3_600_000, dir, keep: 2, logger: pino({ level: 'silent' }) });
      for (const t of ['2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z', '2026-12-03T00:00:00Z']) await schedule.runOnce(new Date(t));
      const files = readdirSync(dir).sort();
      assert.deepEqual(files, [backupFileName(new Date('2026-12-02T00:00:00Z')), backupFileName(new Date('2026-12-03T00:00:00Z'))]);
      assert.equal(files[0], 'berth-backup-20261202T000000Z.bbk');
      assert.equal(statSync(path.join(dir, files[1]!)).mode & 0o777, 0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('berth server backup flags', () => {
  it('parses --restore and the schedule, and names the field of a bad one', () => {
    const f = parseServerFlags(['--restore', 'b.bbk', '--passphrase-file', 'p', '--backup-every', '6h', '--backup-dir', '/b', '--no-agent'])!;
    assert.deepEqual(f.server.restore, { file: 'b.bbk', passphraseFile: 'p' });
    assert.deepEqual(f.server.backupSchedule, { everyMs: 6 * 3600_000, dir: '/b', keep: 10, passphraseFile: 'p' });
    assert.throws(() => parseServerFlags(['--restore', 'b.bbk']), /--restore needs --passphrase-file/);
    assert.throws(() => parseServerFlags(['--backup-every', '6h', '--passphrase-file', 'p']), /--backup-every needs --backup-dir/);
    assert.throws(() => parseServerFlags(['--backup-every', '10s', '--backup-dir', 'd', '--passphrase-file', 'p']), /--backup-every "10s"/);
    assert.throws(() => parseServerFlags(['--backup-every', '1h', '--backup-dir', 'd', '--passphrase-file', 'p', '--backup-keep', '0']), /--backup-keep "0"/);
    assert.throws(() => parseServerFlags(['--backup-dir', 'd']), /are for --backup-every/);
  });
});
