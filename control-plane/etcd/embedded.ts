// Embedded etcd: the `etcd` binary from PATH run as a child process of `berth server`, its client
// URL on a loopback port chosen here (only this server talks to it), its data under the server's
// data dir. With `member`, it is one member of a cluster of servers' etcds: it speaks to the other
// members over mutual TLS (certificates of the cluster CA, peers' CN checked) on the peer address.
//
// Owns: the child's whole life. It must never outlive the server: it is started under
// `setpriv --pdeathsig SIGTERM` where available (so even a SIGKILLed server takes it down), it is
// killed when start-up fails half-way, and stop() waits for it to exit.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { BerthError } from '../../common/errors.js';

export class EtcdNotInstalledError extends BerthError {
  override readonly code: string = 'ETCD_NOT_INSTALLED';
  constructor(readonly binary: string) {
    super(`etcd binary "${binary}" not found on PATH: install it with "apt-get install etcd-server" (Debian) or pass --etcd http://HOST:2379`);
  }
}

export class EtcdStartError extends BerthError {
  override readonly code: string = 'ETCD_START_FAILED';
}

export interface EmbeddedEtcdOptions {
  dataDir: string;
  logger: Logger;
  binary?: string;
  /** Client port; 0 or absent = a free loopback port. */
  clientPort?: number;
  /** This member among the servers' etcds; absent = a lone member with a loopback peer port. */
  member?: EtcdMemberOptions;
  startTimeoutMs?: number;
}

export interface EtcdMemberOptions {
  /** The member's name (the server's). */
  name: string;
  /** The IP address the peer port binds. */
  peerListenHost: string;
  /** The host other members dial (in the peer certificate). */
  peerAdvertiseHost: string;
  /** Fixed peer port; absent = a free one. */
  peerPort?: number;
  /** `peerPort` was only a preference: when it is taken, another free port will do. */
  peerPortFallback?: boolean;
  tls: { certFile: string; keyFile: string; caFile: string; allowedCn: string };
  /**
   * Joining a cluster (used on the member's first start only; etcd ignores it once its data
   * exists): the whole initial cluster, `name=peerURL,...`, this member included.
   */
  join?: { initialCluster: string };
}

export class EmbeddedEtcd {
  /** The peer URL the member advertises (with `member`). */
  peerUrl: string | undefined;

  private exited: Promise<void>;
  private stopping = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly clientUrl: string,
    private readonly log: Logger,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get endpoints(): string[] {
    return [this.clientUrl];
  }

  /** Resolves when the process has exited (for whatever reason). */
  get exitedPromise(): Promise<void> {
    return this.exited;
  }

  static async start(opts: EmbeddedEtcdOptions): Promise<EmbeddedEtcd> {
    const binary = opts.binary ?? 'etcd';
    if (!onPath(binary)) throw new EtcdNotInstalledError(binary);
    const log = opts.logger.child({ component: 'embedded-etcd' });
    const dir = path.resolve(opts.dataDir, 'etcd');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    let lastErr: Error | undefined;
    // A free port can be taken between probing and binding: retry a few times.
    for (let attempt = 0; attempt < 3; attempt++) {
      const clientPort = opts.clientPort || (await freePort());
      const m = opts.member;
      const peerPort = (attempt === 0 || !m?.peerPortFallback ? m?.peerPort : undefined) || (await freePort(m?.peerListenHost));
      const clientUrl = `http://127.0.0.1:${clientPort}`;
      const peerUrl = m ? `https://${urlHost(m.peerAdvertiseHost)}:${peerPort}` : `http://127.0.0.1:${peerPort}`;
      const name = m?.name ?? 'berth';
      const args = [
        '--name', name,
        '--data-dir', dir,
        '--listen-client-urls', clientUrl,
        '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', m ? `https://${urlHost(m.peerListenHost)}:${peerPort}` : peerUrl,
        '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', m?.join?.initialCluster ?? `${name}=${peerUrl}`,
        ...(m?.join ? ['--initial-cluster-state', 'existing'] : []),
        ...(m
          ? [
              '--peer-cert-file', m.tls.certFile,
              '--peer-key-file', m.tls.keyFile,
              '--peer-trusted-ca-file', m.tls.caFile,
              '--peer-client-cert-auth',
              '--peer-cert-allowed-cn', m.tls.allowedCn,
            ]
          : []),
        '--log-level', 'warn',
        '--logger', 'zap',
        '--quota-backend-bytes', String(4 * 1024 ** 3),
      ];
      const [cmd, cmdArgs] = withParentDeathSignal(binary, args);
      const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
      const etcd = new EmbeddedEtcd(child, clientUrl, log);
      etcd.peerUrl = m ? peerUrl : undefined;
      const tail: string[] = [];
      const keep = (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) if (line.trim()) tail.push(line.trim());
        tail.splice(0, Math.max(0, tail.length - 20));
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      log.info({ pid: child.pid, clientUrl, ...(m ? { peerUrl, member: name, joining: !!m.join } : {}), dataDir: dir }, 'starting embedded etcd');
      try {
        // A joining member is a learner until promoted: it answers no client call but its health
        // endpoint; the server waits for its promotion.
        await etcd.waitHealthy(opts.startTimeoutMs ?? 20_000, tail, !!m?.join);
        log.info({ pid: child.pid, clientUrl }, 'embedded etcd is healthy');
        child.stdout?.off('data', keep);
        child.stdout?.resume();
        child.stderr?.off('data', keep);
        child.stderr?.on('data', (c: Buffer) => log.debug({ etcd: c.toString().trim() }, 'etcd'));
        return etcd;
      } catch (err) {
        await etcd.stop();
        lastErr = err as Error;
        if (!/address already in use/.test(lastErr.message)) break;
      }
    }
    throw lastErr ?? new EtcdStartError('etcd failed to start');
  }

  private async waitHealthy(timeoutMs: number, tail: string[], joining = false): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) {
        throw new EtcdStartError(`etcd exited during start-up: ${tail.slice(-3).join(' | ') || 'no output'}`);
      }
      try {
        if (joining) {
          // Its /health reads a key, which a learner refuses: that it serves is enough here.
          const res = await fetch(`${this.clientUrl}/version`, { signal: AbortSignal.timeout(1000) });
          if (res.ok) return;
        } else {
          const res = await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
          const body = (await res.json()) as { health?: string };
          if (body.health === 'true') return;
        }
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new EtcdStartError(`etcd not healthy after ${timeoutMs} ms: ${tail.slice(-3).join(' | ')}`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Idempotent. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (!this.stopping) {
      this.stopping = true;
      this.log.info({ pid: this.child.pid }, 'stopping embedded etcd');
      this.child.kill('SIGTERM');
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

function onPath(binary: string): boolean {
  if (binary.includes('/')) return existsSync(binary);
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(path.join(dir, binary)));
}

let setprivWorks: boolean | undefined;

/** Wrap a command so the kernel sends it SIGTERM when its parent dies. */
export function withParentDeathSignal(cmd: string, args: string[]): [string, string[]] {
  setprivWorks ??= onPath('setpriv') && spawnSync('setpriv', ['--pdeathsig', 'SIGTERM', 'true']).status === 0;
  return setprivWorks ? ['setpriv', ['--pdeathsig', 'SIGTERM', '--', cmd, ...args]] : [cmd, args];
}

/** A host as a URL carries it (an IPv6 address in brackets). */
export function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
