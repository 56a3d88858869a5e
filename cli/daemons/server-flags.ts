// `berth server`'s flags: its help text and the parse into typed options for the control plane
// and, unless --no-agent, for the local agent beside it.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { checkNodeName, metricsListenOf, parseLabels } from '../../agent/cli.js';
import { MAX_NODE_CERT_TTL_MS, MIN_NODE_CERT_TTL_MS, parseDurationMs } from '../../control-plane/pki/setup.js';
import { DEFAULT_LEADER_LEASE_SECONDS, SERVER_DEFAULTS, type ServerOptions } from '../../control-plane/server.js';
import { overlaps, parseCidr } from '../../common/cidr.js';

export const SERVER_USAGE = `Usage: berth server [flags]
       berth server --join HOST:PORT --token-file FILE [flags]
       berth server leave | rm NAME   (client commands: see 'berth server leave --help')

Runs the control plane: API, orchestrator, scheduler, the dispatcher agents join, and (unless
--no-agent) a local agent. Without --etcd it runs an embedded etcd under --data-dir; with --join,
that etcd joins the embedded etcds of the servers already in the cluster (docs/ha.md).

Flags:
  --data-dir DIR          state, tokens and client config (default ${SERVER_DEFAULTS.dataDir})
  --listen ADDR:PORT      API address (default ${SERVER_DEFAULTS.listen})
  --agent-listen ADDR:PORT
                          gRPC address agents join (default ${SERVER_DEFAULTS.agentListen})
  --etcd URL[,URL...]     use an external etcd cluster instead of the embedded one
  --etcd-prefix PREFIX    key prefix in etcd (default ${SERVER_DEFAULTS.etcdPrefix})
  --name NAME             this server's name among the servers sharing one etcd
                          (default: host name); see docs/ha.md
  --join HOST:PORT        join the cluster of the server whose agent address this is
                          (its dispatcher): needs --token-file with the manager token;
                          only on the first start (a restart comes back as the same member)
  --token-file FILE       the manager token, for --join (a server's data dir/manager-token)
  --etcd-peer-addr HOST:PORT
                          where the embedded etcd listens for the other servers' etcds
                          (TLS), and the address they dial (default: --advertise-addr's
                          host, or --agent-listen's, or this machine's first address;
                          port 7072, or a free one; kept in the data dir)
  --leader-lease SECONDS  TTL of the server's lease, and so of its leadership: a dead
                          leader is replaced within it (default ${DEFAULT_LEADER_LEASE_SECONDS})
  --no-agent              do not run a local agent
  --node-name NAME        name of the local agent's node (default: host name)
  --node-labels K=V,...   labels of the local agent's node
  --agent-metrics-listen ADDR:PORT
                          serve the local agent's Prometheus metrics there (plain HTTP,
                          a loopback address only; default: off)
  --heartbeat-grace SECONDS
                          a node whose heartbeats stop this long is down (default 5)
  --restart-backoff-max SECONDS
                          longest wait between two restarts of a crash-looping task
                          (default 300)
  --advertise-addr HOST[:PORT]
                          the address agents dial, if not --agent-listen's (put in the
                          dispatcher's TLS certificate)
  --tls-san NAME[,NAME...]
                          more host names or IP addresses for the dispatcher's TLS
                          certificate (repeatable)
  --node-cert-ttl DURATION
                          lifetime of node certificates, e.g. 24h, 30m, 20s (default 24h);
                          agents renew them at 2/3 of it
  --node-subnets CIDR     give every docker node a /24 of CIDR for its containers, routed
                          between the nodes (e.g. 10.240.0.0/16); see docs/networking.md
  --service-addresses CIDR
                          give every service a virtual address of CIDR and a DNS name on
                          the cluster network (needs --node-subnets; e.g. 10.241.0.0/16)
  --restore FILE          bring a cluster back from a backup ('berth cluster backup') into
                          an empty --data-dir (and an empty etcd prefix); needs
                          --passphrase-file; see docs/operations.md
  --passphrase-file FILE  the backup passphrase (one line), for --restore and --backup-every
  --backup-every DURATION write an encrypted backup every DURATION (e.g. 6h) to --backup-dir
  --backup-dir DIR        where scheduled backups go (berth-backup-<time>.bbk, mode 0600)
  --backup-keep N         scheduled backups kept, the oldest deleted (default 10)

Example:
  berth server --data-dir /var/lib/berth
`;

/** The local agent's node, when the server runs one. */
export interface LocalNodeFlags {
  nodeName: string;
  labels: Record<string, string>;
  /** The local agent's own metrics endpoint (loopback only); undefined: off. */
  metricsListen?: { host: string; port: number };
}

export interface ServerFlags {
  server: ServerOptions;
  /** Undefined with --no-agent. */
  localAgent: LocalNodeFlags | undefined;
  /** --join and --token-file. */
  join?: { address: string; tokenFile: string };
}

/** Parses `berth server` flags; throws with a one-line message. Undefined for --help. */
export function parseServerFlags(argv: string[]): ServerFlags | undefined {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      listen: { type: 'string' },
      'agent-listen': { type: 'string' },
      etcd: { type: 'string' },
      'etcd-prefix': { type: 'string' },
      'no-agent': { type: 'boolean' },
      'node-name': { type: 'string' },
      'node-labels': { type: 'string' },
      'agent-metrics-listen': { type: 'string' },
      'heartbeat-grace': { type: 'string' },
      'restart-backoff-max': { type: 'string' },
      'advertise-addr': { type: 'string' },
      'tls-san': { type: 'string', multiple: true },
      'node-cert-ttl': { type: 'string' },
      name: { type: 'string' },
      'leader-lease': { type: 'string' },
      join: { type: 'string' },
      'token-file': { type: 'string' },
      'etcd-peer-addr': { type: 'string' },
      'node-subnets': { type: 'string' },
      'service-addresses': { type: 'string' },
      restore: { type: 'string' },
      'passphrase-file': { type: 'string' },
      'backup-every': { type: 'string' },
      'backup-dir': { type: 'string' },
      'backup-keep': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  if (positionals.length) throw new Error(`unexpected argument "${positionals[0]}"`);
  const grace = values['heartbeat-grace'] !== undefined ? Number(values['heartbeat-grace']) : SERVER_DEFAULTS.heartbeatGraceMs / 1000;
  if (!Number.isFinite(grace) || grace <= 0) throw new Error(`--heartbeat-grace: must be a positive number of seconds`);
  const backoffMax = values['restart-backoff-max'] !== undefined ? Number(values['restart-backoff-max']) : undefined;
  if (backoffMax !== undefined && (!Number.isFinite(backoffMax) || backoffMax <= 0)) {
    throw new Error(`--restart-backoff-max: must be a positive number of seconds`);
  }
  let nodeCertTtlMs: number | undefined;
  if (values['node-cert-ttl'] !== undefined) {
    nodeCertTtlMs = parseDurationMs(values['node-cert-ttl']);
    if (nodeCertTtlMs === undefined) throw new Error(`--node-cert-ttl "${values['node-cert-ttl']}": expected a duration like 24h, 30m or 20s`);
    if (nodeCertTtlMs < MIN_NODE_CERT_TTL_MS || nodeCertTtlMs > MAX_NODE_CERT_TTL_MS) {
      throw new Error(`--node-cert-ttl "${values['node-cert-ttl']}": must be between ${MIN_NODE_CERT_TTL_MS / 1000}s and ${MAX_NODE_CERT_TTL_MS / 86_400_000}d`);
    }
  }
  const tlsSans = (values['tls-san'] ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  const leaderLease = values['leader-lease'] !== undefined ? Number(values['leader-lease']) : undefined;
  if (leaderLease !== undefined && (!Number.isInteger(leaderLease) || leaderLease < 2)) {
    throw new Error(`--leader-lease: must be a whole number of seconds, at least 2`);
  }
  if (values.join !== undefined && !/^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(values.join)) throw new Error(`--join "${values.join}": expected HOST:PORT, a server's agent (dispatcher) address`);
  if (values.join !== undefined && !values['token-file']) throw new Error('--join needs --token-file FILE: the manager token (manager-token in a server\'s data dir)');
  if (values['token-file'] !== undefined && values.join === undefined) throw new Error('--token-file is for --join');
  if (values.join !== undefined && values.etcd) throw new Error('--join and --etcd: a server joining runs its own embedded etcd; with an external etcd, use --etcd alone');
  if (values['node-subnets'] !== undefined) {
    const range = parseCidr(values['node-subnets'], '--node-subnets');
    if (range.prefix > 24) throw new Error(`--node-subnets "${values['node-subnets']}": must hold at least one /24 (a prefix of 24 or less)`);
  }
  if (values['service-addresses'] !== undefined) {
    if (values['node-subnets'] === undefined) throw new Error('--service-addresses needs --node-subnets (service addresses live on the cluster network)');
    const vips = parseCidr(values['service-addresses'], '--service-addresses');
    if (overlaps(vips, parseCidr(values['node-subnets'], '--node-subnets'))) {
      throw new Error(`--service-addresses "${values['service-addresses']}" overlaps --node-subnets "${values['node-subnets']}"`);
    }
  }
  const backup = parseBackupFlags(values);
  if (values.restore !== undefined && values.join !== undefined) throw new Error('--restore and --join: a restore brings back a cluster\'s first server; others join it afterwards');
  const server: ServerOptions = {
    ...backup,
    ...(values['etcd-peer-addr'] ? { etcdPeerAddr: values['etcd-peer-addr'] } : {}),
    ...(values['node-subnets'] !== undefined ? { nodeSubnets: values['node-subnets'] } : {}),
    ...(values['service-addresses'] !== undefined ? { serviceAddresses: values['service-addresses'] } : {}),
    ...(values['advertise-addr'] ? { advertiseAddr: values['advertise-addr'] } : {}),
    ...(tlsSans.length ? { tlsSans } : {}),
    ...(nodeCertTtlMs !== undefined ? { nodeCertTtlMs } : {}),
    dataDir: values['data-dir'] ?? SERVER_DEFAULTS.dataDir,
    listen: values.listen ?? SERVER_DEFAULTS.listen,
    agentListen: values['agent-listen'] ?? SERVER_DEFAULTS.agentListen,
    etcd: values.etcd ? values.etcd.split(',').map((s) => s.trim()).filter(Boolean) : [],
    etcdPrefix: values['etcd-prefix'] ?? SERVER_DEFAULTS.etcdPrefix,
    heartbeatGraceMs: grace * 1000,
    ...(backoffMax !== undefined ? { restartBackoffMaxMs: backoffMax * 1000 } : {}),
    ...(values.name !== undefined ? { name: checkNodeName(values.name, '--name') } : {}),
    ...(leaderLease !== undefined ? { leaderLeaseSeconds: leaderLease } : {}),
  };
  const localAgent = values['no-agent']
    ? undefined
    : {
        nodeName: checkNodeName(values['node-name'] ?? os.hostname(), '--node-name'),
        labels: parseLabels(values['node-labels'] ?? '', '--node-labels'),
        ...(values['agent-metrics-listen'] !== undefined ? { metricsListen: metricsListenOf(values['agent-metrics-listen'], '--agent-metrics-listen') } : {}),
      };
  return { server, localAgent, ...(values.join !== undefined ? { join: { address: values.join, tokenFile: values['token-file']! } } : {}) };
}

/** --restore, --passphrase-file and the scheduled backups' flags. */
function parseBackupFlags(values: Record<string, string | boolean | string[] | undefined>): Pick<ServerOptions, 'restore' | 'backupSchedule'> {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k]) : undefined);
  const passphraseFile = str('passphrase-file');
  const every = str('backup-every');
  const restore = str('restore');
  if (restore !== undefined && !passphraseFile) throw new Error('--restore needs --passphrase-file FILE: the passphrase the backup was written with');
  if (every === undefined && (str('backup-dir') !== undefined || str('backup-keep') !== undefined)) throw new Error('--backup-dir and --backup-keep are for --backup-every');
  if (passphraseFile !== undefined && restore === undefined && every === undefined) throw new Error('--passphrase-file is for --restore or --backup-every');
  let backupSchedule: ServerOptions['backupSchedule'];
  if (every !== undefined) {
    const everyMs = parseDurationMs(every);
    if (everyMs === undefined || everyMs < 60_000) throw new Error(`--backup-every "${every}": expected a duration of at least 1m, like 6h or 30m`);
    const dir = str('backup-dir');
    if (!dir) throw new Error('--backup-every needs --backup-dir DIR');
    if (!passphraseFile) throw new Error('--backup-every needs --passphrase-file FILE: backups are encrypted with its passphrase');
    const keepText = str('backup-keep') ?? '10';
    const keep = Number(keepText);
    if (!Number.isInteger(keep) || keep < 1) throw new Error(`--backup-keep "${keepText}": must be a whole number, at least 1`);
    backupSchedule = { everyMs, dir, keep, passphraseFile };
  }
  return { ...(restore !== undefined ? { restore: { file: restore, passphraseFile: passphraseFile! } } : {}), ...(backupSchedule ? { backupSchedule } : {}) };
}
