// A TCP load balancer on loopback, as docs/ha.md advises in front of several servers'
// dispatchers: each new connection goes to the next backend in turn, skipping one that refuses
// it. Bytes are passed through untouched (the agents' mutual TLS is end to end). Owns: its
// listening socket and the connections it opened; close() ends them all.
import net from 'node:net';

export interface TcpBalancer {
  /** `127.0.0.1:PORT` for agents to join. */
  address: string;
  /** Replaces the backends (`HOST:PORT` each); open connections are left as they are. */
  setBackends(backends: readonly string[]): void;
  close(): Promise<void>;
}

export async function startTcpBalancer(backends: readonly string[]): Promise<TcpBalancer> {
  let list = [...backends];
  let next = 0;
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  /** Connects to the backends in turn from the next one; undefined if none accepts. */
  const connect = (tried = 0): Promise<net.Socket | undefined> => {
    if (!list.length || tried >= list.length) return Promise.resolve(undefined);
    const target = list[next++ % list.length]!;
    const i = target.lastIndexOf(':');
    return new Promise((resolve) => {
      const up = net.connect({ host: target.slice(0, i), port: Number(target.slice(i + 1)) });
      up.once('connect', () => resolve(up));
      up.once('error', () => {
        up.destroy();
        resolve(connect(tried + 1));
      });
    });
  };
  const server = net.createServer((down) => {
    track(down);
    down.pause();
    down.on('error', () => down.destroy());
    void connect().then((up) => {
      if (!up || down.destroyed) {
        up?.destroy();
        down.destroy();
        return;
      }
      track(up);
      up.removeAllListeners('error');
      up.on('error', () => down.destroy());
      down.on('close', () => up.destroy());
      up.on('close', () => down.destroy());
      down.pipe(up);
      up.pipe(down);
      down.resume();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    setBackends(b) {
      list = [...b];
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
