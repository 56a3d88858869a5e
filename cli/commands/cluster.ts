// `berth cluster backup FILE [--passphrase-file F]`: asks the server for a backup of the cluster,
// sealed there with the passphrase (read from F, or from standard input), and writes it to FILE
// (mode 0600, through a temporary file renamed into place). Admin only. The file holds nothing in
// clear; `berth server --restore FILE --passphrase-file F` brings the cluster back from it.
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { BackupError, checkPassphraseStrength, parsePassphrase } from '../../common/backup.js';
import { CliError, stringOpt, UsageError, type ClientCommand } from '../command.js';

async function readPassphrase(file: string | undefined, stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  let text: string;
  let source: string;
  if (file !== undefined && file !== '-') {
    source = `--passphrase-file ${file}`;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`${source}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 'cluster');
    }
  } else {
    source = 'standard input';
    const chunks: Buffer[] = [];
    for await (const c of stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
    text = Buffer.concat(chunks).toString('utf8');
  }
  try {
    const passphrase = parsePassphrase(text, source);
    checkPassphraseStrength(passphrase);
    return passphrase;
  } catch (err) {
    throw new UsageError((err as BackupError).message, 'cluster');
  }
}

export const clusterCommand: ClientCommand = {
  name: 'cluster',
  summary: 'Back the cluster up into one encrypted file',
  usage: 'berth cluster backup FILE [--passphrase-file FILE|-]',
  description:
    'backup: the server reads every key of the cluster in etcd at one revision, with the CA\n' +
    '  (certificate and key), the tokens and the secrets key of its data dir, encrypts them with\n' +
    '  the passphrase (scrypt, AES-256-GCM) and sends the file back; FILE is written mode 0600.\n' +
    '  The passphrase (at least 12 characters, one line) comes from --passphrase-file, or from\n' +
    '  standard input. Admin only; recorded in the audit log.\n' +
    '  Restore with: berth server --restore FILE --passphrase-file FILE --data-dir EMPTY_DIR\n' +
    '  (docs/operations.md).',
  examples: ['berth cluster backup /srv/backups/berth.bbk --passphrase-file /root/backup-passphrase', 'pass show berth-backup | berth cluster backup berth.bbk'],
  options: {
    'passphrase-file': { type: 'string', valueName: 'FILE', description: 'read the passphrase from FILE (- or absent: standard input)' },
  },
  async run(ctx, args) {
    const [action, ...rest] = args.positionals;
    if (action !== 'backup') throw new UsageError(action ? `unknown cluster action "${action}": use backup` : 'cluster needs an action: backup', 'cluster');
    if (rest.length !== 1) throw new UsageError('cluster backup takes one FILE to write', 'cluster');
    const file = rest[0]!;
    const passphrase = await readPassphrase(stringOpt(args.values, 'passphrase-file'));
    const res = await ctx.client().openStream('POST', '/v1/cluster/backup', { body: { passphrase } });
    const sealed = Buffer.from(await res.arrayBuffer());
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await writeFile(tmp, sealed, { mode: 0o600, flag: 'wx' });
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new CliError(`${file}: cannot write it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    ctx.out(`backup written to ${file} (${sealed.length} bytes)`);
    return 0;
  },
};
