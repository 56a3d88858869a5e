// `berth server [flags]`: parses flags, starts the control plane, stops it on SIGTERM/SIGINT.
import { parseArgs } from 'node:util';
import { BerthError, errorMessage } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { Lifecycle, StartAborted } from './lifecycle.js';
import { MAX_NODE_CERT_TTL_MS, MIN_NODE_CERT_TTL_MS, parseDurationMs } from './pki/setup.js';
import { SERVER_DEFAULTS, startServer, type ServerOptions } from './server.js';

export const SERVER_USAGE = `Usage: berth server [flags]

Runs the control plane: API, orchestrator, scheduler, the dispatcher agents join, and (unless
--no-agent) a local agent. Without --etcd it runs an embedded etcd under --data-dir.

Flags:
  --data-dir DIR          state, tokens and client config (default ${SERVER_DEFAULTS.dataDir})
  --listen ADDR:PORT      API address (default ${SERVER_DEFAULTS.listen})
  --agent-listen ADDR:PORT
                          gRPC address agents join (default ${SERVER_DEFAULTS.agentListen})
  --etcd URL[,URL...]     use an external etcd cluster instead of the embedded one
  --etcd-prefix PREFIX    key prefix in etcd (default ${SERVER_DEFAULTS.etcdPrefix})
  --no-agent              do not run a local agent
  --node-name NAME        name of the local agent's node (default: host name)
  --node-labels K=V,...   labels of the local agent's node
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

Example:
  berth server --data-dir /var/lib/berth
`;

export async function runServer(argv: string[]): Promise<number> {
  let opts: ServerOptions;
  try {
    opts = parseServerFlags(argv);
  } catch (err) {
    process.stderr.write(`berth server: ${errorMessage(err)}\n`);
    return 1;
  }
  if (opts === HELP) {
    process.stdout.write(SERVER_USAGE);
    return 0;
  }
  const log = createLogger('berth-server');
  const life = new Lifecycle(log);
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    log.info({ signal: sig }, 'shutting down');
    void life.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await startServer(opts, log, life);
  } catch (err) {
    if (err instanceof StartAborted) return 0;
    const msg = err instanceof BerthError ? err.message : `start-up failed: ${errorMessage(err)}`;
    log.error({ err: errorMessage(err) }, 'start-up failed');
    process.stderr.write(`berth server: ${msg}\n`);
    return 1;
  }
  await life.done;
  log.info('stopped');
  return 0;
}

const HELP = Symbol('help') as unknown as ServerOptions;

export function parseServerFlags(argv: string[]): ServerOptions {
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
      'heartbeat-grace': { type: 'string' },
      'restart-backoff-max': { type: 'string' },
      'advertise-addr': { type: 'string' },
      'tls-san': { type: 'string', multiple: true },
      'node-cert-ttl': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return HELP;
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
  return {
    ...(values['advertise-addr'] ? { advertiseAddr: values['advertise-addr'] } : {}),
    ...(tlsSans.length ? { tlsSans } : {}),
    ...(nodeCertTtlMs !== undefined ? { nodeCertTtlMs } : {}),
    dataDir: values['data-dir'] ?? SERVER_DEFAULTS.dataDir,
    listen: values.listen ?? SERVER_DEFAULTS.listen,
    agentListen: values['agent-listen'] ?? SERVER_DEFAULTS.agentListen,
    etcd: values.etcd ? values.etcd.split(',').map((s) => s.trim()).filter(Boolean) : [],
    etcdPrefix: values['etcd-prefix'] ?? SERVER_DEFAULTS.etcdPrefix,
    agent: !values['no-agent'],
    nodeName: values['node-name'] ?? SERVER_DEFAULTS.nodeName,
    nodeLabels: values['node-labels'] ?? '',
    heartbeatGraceMs: grace * 1000,
    ...(backoffMax !== undefined ? { restartBackoffMaxMs: backoffMax * 1000 } : {}),
  };
}
