// `berth server`: the composition root of a server. Parses its flags, starts the control plane
// and, unless --no-agent, a local agent joined to it in the same process, handed typed options.
// Both stop on SIGTERM/SIGINT through one Lifecycle: the local agent first (it was registered
// last), then the control plane in reverse order of start.
import path from 'node:path';
import type { Logger } from 'pino';
import { Agent, Runtime } from '../../agent/agent.js';
import { dockerAnswers, hostCapacity, readJoinToken } from '../../agent/cli.js';
import { BerthError, errorMessage } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { clientVersion } from '../../common/version.js';
import { Lifecycle, StartAborted } from '../../control-plane/lifecycle.js';
import { startServer, type RunningServer, type ServerOptions } from '../../control-plane/server.js';
import { parseServerFlags, SERVER_USAGE, type LocalNodeFlags, type ServerFlags } from './server-flags.js';

export async function runServer(argv: string[]): Promise<number> {
  let flags: ServerFlags | undefined;
  try {
    flags = parseServerFlags(argv);
  } catch (err) {
    process.stderr.write(`berth server: ${errorMessage(err)}\n`);
    return 1;
  }
  if (!flags) {
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
    if (flags.join) {
      const { joinCluster } = await import('./server-join.js');
      await joinCluster(flags.server, flags.join, log);
    }
    const running = await startServer(flags.server, log, life);
    if (flags.localAgent) await withLocalAgent(flags.server, flags.localAgent, running, log, life);
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

/**
 * The agent a one-node cluster needs, in this process, joined with the server's join token.
 * Registered on the server's Lifecycle after the control plane, so it stops first; a failed
 * start stops the control plane too.
 */
async function withLocalAgent(server: ServerOptions, node: LocalNodeFlags, running: RunningServer, log: Logger, life: Lifecycle): Promise<void> {
  try {
    const joinToken = readJoinToken(running.joinTokenFile, 'join token file');
    const runtime = (await dockerAnswers()) ? Runtime.Docker : Runtime.Process;
    const agent = new Agent({
      server: `127.0.0.1:${running.agentPort}`,
      joinToken,
      nodeName: node.nodeName,
      labels: node.labels,
      runtime,
      dataDir: path.join(server.dataDir, 'agent'),
      capacity: hostCapacity(),
      version: clientVersion(),
      logger: log.child({ component: 'local-agent', node: node.nodeName }),
      fenceAfterMs: 3 * server.heartbeatGraceMs,
      ...(node.metricsListen ? { metricsListen: node.metricsListen } : {}),
    });
    await agent.start();
    life.onStop('local-agent', () => agent.stop());
    log.info({ node: node.nodeName, runtime }, 'local agent started');
  } catch (err) {
    await life.stop();
    throw err;
  }
}
