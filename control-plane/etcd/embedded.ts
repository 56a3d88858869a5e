// Embedded etcd: the `etcd` binary from PATH run as a child process of `berth server`, on
// loopback ports chosen here, with its data under the server's data dir.
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
  startTimeoutMs?: number;
}

export class EmbeddedEtcd {
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
      const peerPort = await freePort();
      const clientUrl = `http://127.0.0.1:${clientPort}`;
      const args = [
        '--name', 'berth',
        '--data-dir', dir,
        '--listen-client-urls', clientUrl,
        '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
        '--initial-cluster', `berth=http://127.0.0.1:${peerPort}`,
        '--log-level', 'warn',
        '--logger', 'zap',
        '--quota-backend-bytes', String(4 * 1024 ** 3),
      ];
      const [cmd, cmdArgs] = withParentDeathSignal(binary, args);
      const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
      const etcd = new EmbeddedEtcd(child, clientUrl, log);
      const tail: string[] = [];
      const keep = (chunk: Buffer) => {
        for (const line of chunk.toString().split('\n')) if (line.trim()) tail.push(line.trim());
        tail.splice(0, Math.max(0, tail.length - 20));
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      log.info({ pid: child.pid, clientUrl, dataDir: dir }, 'starting embedded etcd');
      try {
        await etcd.waitHealthy(opts.startTimeoutMs ?? 20_000, tail);
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

  private async waitHealthy(timeoutMs: number, tail: string[]): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) {
        throw new EtcdStartError(`etcd exited during start-up: ${tail.slice(-3).join(' | ') || 'no output'}`);
      }
      try {
        const res = await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') return;
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
