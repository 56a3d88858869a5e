// A real local image registry for pull tests: Debian's docker-registry binary on 127.0.0.1 and a
// random free port, with a temporary config and storage. Docker treats 127.0.0.0/8 registries as
// insecure by default, so plain HTTP works without touching the Engine's configuration. With
// `auth`, it asks for htpasswd (bcrypt) credentials; pushes then log in with a docker config
// dir of their own, never the host's ~/.docker.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { docker } from './docker.js';
import { eventually } from './etcd.js';

const run = promisify(execFile);
const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface TestRegistry {
  /** `127.0.0.1:<port>` */
  address: string;
  pid: number;
  /** Tags a local image as `<address>/<repo>` and pushes it; returns that reference. */
  push(localImage: string, repo: string): Promise<string>;
  /** Stops the registry by its pid, removes its storage and every local tag pushed or pulled. */
  stop(): Promise<void>;
}

async function ensureRegistryBinary(): Promise<void> {
  if (existsSync(REGISTRY_BIN)) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update', '-qq'], { env });
  await run('apt-get', ['install', '-y', '-qq', 'docker-registry'], { env });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address() as net.AddressInfo;
      srv.close(() => resolve(addr.port));
    });
  });
}

export interface TestRegistryOptions {
  /** htpasswd authentication with this one user. */
  auth?: { user: string; password: string };
}

export async function startTestRegistry(opts: TestRegistryOptions = {}): Promise<TestRegistry> {
  await ensureRegistryBinary();
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-registry-'));
  const auth = opts.auth;
  if (auth) writeFileSync(path.join(dir, 'htpasswd'), (await run('htpasswd', ['-Bbn', auth.user, auth.password])).stdout);
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const config = path.join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${address}`,
      ...(auth ? ['auth:', '  htpasswd:', '    realm: berth-test', `    path: ${path.join(dir, 'htpasswd')}`] : []),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', config], { stdio: 'ignore' });
  const pid = child.pid;
  if (pid === undefined) throw new Error('docker-registry did not start');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const refs = new Set<string>();
  try {
    await eventually(async () => (await fetch(`http://${address}/v2/`)).status === (auth ? 401 : 200), 15_000, `registry on ${address}`);
  } catch (err) {
    process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    address,
    pid,
    async push(localImage, repo) {
      const ref = `${address}/${repo}`;
      refs.add(ref);
      await docker('tag', localImage, ref);
      if (!auth) {
        await docker('push', ref);
        return ref;
      }
      // The password goes through standard input (a shell pipe), into a config dir of its own.
      const env = { ...process.env, DOCKER_CONFIG: path.join(dir, 'docker-config'), PW: auth.password };
      await run('sh', ['-c', `printf %s "$PW" | docker login ${address} -u "$USERNAME" --password-stdin`], { env: { ...env, USERNAME: auth.user } });
      await run('docker', ['push', ref], { env, maxBuffer: 16 * 1024 * 1024 });
      return ref;
    },
    async stop() {
      for (const ref of refs) await docker('rmi', '-f', ref).catch(() => '');
      // A pull also leaves a digest reference (`<address>/<repo>@sha256:...`) behind.
      const digests = await docker('images', '--digests', '--format', '{{.Repository}}@{{.Digest}}').catch(() => '');
      for (const d of digests.split('\n')) {
        if (d.startsWith(`${address}/`) && !d.endsWith('@<none>')) await docker('rmi', '-f', d).catch(() => '');
      }
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
