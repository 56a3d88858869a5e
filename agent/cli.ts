// `berth agent`: flags -> an Agent, run until SIGTERM/SIGINT (exit 0) or until the server refuses
// the join token (exit 1). Bad flags are one clear line on stderr and exit code 1.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { clientVersion } from '../common/version.js';
import { createLogger } from '../common/log.js';
import { parseCpu, parseMemory } from '../common/quantity.js';
import type { NodeResources } from '../common/types.js';
import { Agent, Runtime } from './agent.js';
import { parseListen } from './metrics/endpoint.js';
import { NODE_CERT_FILE } from './session/identity.js';
import { BerthError, errorMessage } from '../common/errors.js';

const DOCKER_SOCKET = '/var/run/docker.sock';
const DOCKER_PING_TIMEOUT_MS = 1000;

const USAGE = `Usage: berth agent --server HOST:PORT (--token T | --token-file FILE) [flags]

Joins a Berth control plane and runs the tasks it assigns to this node. The first start joins
with the join token (checking the server's CA against the digest in it) and keeps the node's
certificate in --data-dir; later starts connect with that certificate and need no token.

Flags:
  --server HOST:PORT     the control plane's dispatcher address (required; with several
                         servers, the agent learns the others' addresses from it, keeps them
                         in --data-dir and moves to another when its server does not answer)
  --token T              the cluster's join token (BERTH-1-<CA digest>-<secret>)
  --token-file FILE      read the join token from FILE
  --name N               node name (default: this host's name)
  --labels k=v,k2=v2     node labels, for placement constraints
  --runtime R            docker | process (default: docker if the Docker Engine answers on
                         ${DOCKER_SOCKET}, else process)
  --data-dir DIR         agent state (default: /var/lib/berth/agent-<name>)
  --cpu Q                CPU to offer, e.g. 2000m or 2 (default: all cores)
  --memory Q             memory to offer, e.g. 2Gi (default: all memory)
  --docker-host H        the Docker Engine's socket: unix:///PATH or PATH (default: $DOCKER_HOST
                         when it is a unix:// address, else ${DOCKER_SOCKET})
  --fence-after SECONDS  cut off from the control plane this long, stop the tasks (containers
                         are kept; default: 3 x the server's heartbeat grace, or 15)
  --bind-allow P,P2      host paths (and below) a service may bind-mount; anything else is
                         rejected (default: /srv,/var/lib/berth-volumes; "" allows none)
  --metrics-listen ADDR:PORT
                         serve this agent's Prometheus metrics (GET /metrics) there; plain
                         HTTP, so a loopback address only (default: off)
  -h, --help             show this help
`;

export class FlagError extends BerthError {
  override readonly code: string = 'BAD_FLAG';
}

export interface AgentFlags {
  server: string;
  /** Undefined when the data dir holds the node's certificate already. */
  joinToken: string | undefined;
  nodeName: string;
  labels: Record<string, string>;
  runtime: Runtime | undefined;
  dataDir: string;
  capacity: NodeResources;
  /** Undefined: derived from what the server announces. */
  fenceAfterMs?: number;
  /** Undefined: DEFAULT_BIND_ALLOW. */
  bindAllow?: string[];
  /** The Docker Engine's unix socket path. */
  dockerSocket: string;
  /** Where the agent's own metrics are served (loopback only); undefined: off. */
  metricsListen?: { host: string; port: number };
}

/** `--metrics-listen` (or `--agent-metrics-listen`) checked: ADDR:PORT on a loopback address. */
export function metricsListenOf(text: string, flag: string): { host: string; port: number } {
  const parsed = parseListen(text);
  if (typeof parsed === 'string') throw new FlagError(`${flag} "${text}": ${parsed}`);
  return parsed;
}

/** Parses `berth agent` flags; throws FlagError with a one-line message. Undefined for --help. */
export function parseAgentFlags(argv: string[]): AgentFlags | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        server: { type: 'string' },
        token: { type: 'string' },
        'token-file': { type: 'string' },
        name: { type: 'string' },
        labels: { type: 'string' },
        runtime: { type: 'string' },
        'data-dir': { type: 'string' },
        cpu: { type: 'string' },
        memory: { type: 'string' },
        'fence-after': { type: 'string' },
        'bind-allow': { type: 'string' },
        'docker-host': { type: 'string' },
        'metrics-listen': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new FlagError(errorMessage(err).split('\n')[0] ?? '');
  }
  if (values.help) return undefined;

  const server = values.server;
  if (!server) throw new FlagError('--server HOST:PORT is required');
  if (!/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/.test(server)) throw new FlagError(`--server "${server}": expected HOST:PORT`);

  if (values.token !== undefined && values['token-file'] !== undefined) throw new FlagError('use --token or --token-file, not both');
  const joinToken = values['token-file'] !== undefined ? readJoinToken(values['token-file'], '--token-file') : values.token;
  const nodeName = checkNodeName(values.name ?? os.hostname(), '--name');
  const dataDir = values['data-dir'] ?? `/var/lib/berth/agent-${nodeName}`;
  if (!joinToken && !existsSync(path.join(dataDir, NODE_CERT_FILE))) {
    throw new FlagError(`a join token is required: --token T or --token-file FILE (${dataDir} holds no node certificate yet)`);
  }
  const labels = parseLabels(values.labels ?? '', '--labels');

  let runtime: Runtime | undefined;
  if (values.runtime !== undefined) {
    if (values.runtime !== Runtime.Docker && values.runtime !== Runtime.Process) {
      throw new FlagError(`--runtime "${values.runtime}": expected docker or process`);
    }
    runtime = values.runtime;
  }

  const cpu = values.cpu === undefined ? hostCapacity().cpu : parseCpu(values.cpu);
  if (!cpu) throw new FlagError(`--cpu "${values.cpu}": expected a quantity like 2000m or 2`);
  const memory = values.memory === undefined ? hostCapacity().memory : parseMemory(values.memory);
  if (!memory) throw new FlagError(`--memory "${values.memory}": expected a quantity like 2Gi or 512Mi`);

  let fenceAfterMs: number | undefined;
  if (values['fence-after'] !== undefined) {
    const seconds = Number(values['fence-after']);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new FlagError(`--fence-after "${values['fence-after']}": expected a positive number of seconds`);
    fenceAfterMs = seconds * 1000;
  }

  let bindAllow: string[] | undefined;
  if (values['bind-allow'] !== undefined) {
    bindAllow = values['bind-allow'].split(',').map((p) => p.trim()).filter(Boolean);
    const bad = bindAllow.find((p) => !path.isAbsolute(p));
    if (bad) throw new FlagError(`--bind-allow "${bad}": expected absolute paths`);
  }

  const dockerSocket = dockerSocketOf(values['docker-host'], process.env.DOCKER_HOST);
  const metricsListen = values['metrics-listen'] !== undefined ? metricsListenOf(values['metrics-listen'], '--metrics-listen') : undefined;

  return {
    ...(fenceAfterMs !== undefined ? { fenceAfterMs } : {}),
    ...(bindAllow ? { bindAllow } : {}),
    ...(metricsListen ? { metricsListen } : {}),
    dockerSocket,
    server,
    joinToken,
    nodeName,
    labels,
    runtime,
    dataDir,
    capacity: { cpu, memory },
  };
}

/**
 * The Engine's socket path: `--docker-host` (unix:///PATH or PATH), else DOCKER_HOST when it is a
 * unix:// address (another scheme is not the Engine this agent can reach), else the default.
 */
export function dockerSocketOf(flag: string | undefined, env: string | undefined): string {
  if (flag !== undefined) {
    const p = flag.startsWith('unix://') ? flag.slice('unix://'.length) : flag;
    if (!p.startsWith('/')) throw new FlagError(`--docker-host "${flag}": expected unix:///PATH or an absolute socket path`);
    return p;
  }
  if (env?.startsWith('unix:///')) return env.slice('unix://'.length);
  return DOCKER_SOCKET;
}

/** The join token in `file` (trimmed); `flag` names the flag it came from in the error. */
export function readJoinToken(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new FlagError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
}

/** The node name if valid, else a FlagError naming `flag`. */
export function checkNodeName(nodeName: string, flag: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(nodeName)) {
    throw new FlagError(`${flag} "${nodeName}": letters, digits, '.', '_' and '-' only, starting with a letter or digit`);
  }
  return nodeName;
}

/** `k=v,k2=v2` as labels; a FlagError naming `flag` for a pair without a key. */
export function parseLabels(text: string, flag: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',').filter((p) => p.trim() !== '')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? '' : pair.slice(0, eq).trim();
    if (!key) throw new FlagError(`${flag}: "${pair}" is not key=value`);
    labels[key] = pair.slice(eq + 1).trim();
  }
  return labels;
}

/** What this host offers by default: all its cores and all its memory. */
export function hostCapacity(): NodeResources {
  return { cpu: os.cpus().length * 1000, memory: os.totalmem() };
}

/** True when the Docker Engine answers its ping on the local socket. */
export function dockerAnswers(socketPath = DOCKER_SOCKET): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, path: '/v1.41/_ping', method: 'GET', timeout: DOCKER_PING_TIMEOUT_MS }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** `berth agent ARGS`: resolves to the process exit code. */
export async function runAgent(argv: string[]): Promise<number> {
  let flags: AgentFlags | undefined;
  try {
    flags = parseAgentFlags(argv);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    process.stderr.write(`berth agent: ${err.message}\n`);
    return 1;
  }
  if (!flags) {
    process.stdout.write(USAGE);
    return 0;
  }
  const runtime = flags.runtime ?? ((await dockerAnswers(flags.dockerSocket)) ? Runtime.Docker : Runtime.Process);
  try {
    mkdirSync(flags.dataDir, { recursive: true });
  } catch (err) {
    process.stderr.write(`berth agent: --data-dir ${flags.dataDir}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}\n`);
    return 1;
  }

  const logger = createLogger('berth-agent').child({ node: flags.nodeName });
  logger.info({ server: flags.server, runtime, ...(runtime === Runtime.Docker ? { docker: flags.dockerSocket } : {}), dataDir: flags.dataDir, capacity: flags.capacity }, 'agent starting');
  const agent = new Agent({ ...flags, runtime, version: clientVersion(), logger });

  let onSignal: (() => void) | undefined;
  const signalled = new Promise<string>((resolve) => {
    onSignal = () => resolve('signal');
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  try {
    try {
      await agent.start();
    } catch (err) {
      process.stderr.write(`berth agent: cannot start the ${runtime} runtime: ${errorMessage(err)}\n`);
      await agent.stop().catch(() => undefined);
      return 1;
    }
    const outcome = await Promise.race([signalled, agent.finished]);
    await agent.stop();
    if (outcome instanceof Error) {
      process.stderr.write(`berth agent: ${outcome.message}\n`);
      return 1;
    }
    logger.info('agent stopped; containers left running');
    return 0;
  } finally {
    if (onSignal) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
  }
}
