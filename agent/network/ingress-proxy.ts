// The routing mesh's user-space forwarder (docs/networking.md, "Routing mesh"): for every ingress
// port with `proxyProtocol: true`, the node listens on the port (every address) and forwards each
// TCP connection, or each UDP client's datagrams, to one of the service's ready tasks picked at
// random, prefixed with a PROXY protocol v2 header that names the client's address and port. It
// connects from the node's bridge gateway, an address of the cluster range, so a task on another
// node lets it in and answers through this node.
//
// Owns: the listening sockets of proxyProtocol ports, their connections and UDP sessions.
// Must not: write iptables rules (service-rules.ts skips these ports) or know the protocol to the server.
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';
import type { ServiceEndpoints } from '../../common/types.js';

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** A UDP client's session (its socket to the backend) ends after this long without a datagram. */
const UDP_IDLE_MS = 30_000;

const plain = (address: string) => address.replace(/^::ffff:/, '');

/** The PROXY protocol v2 header (command PROXY) for a connection from `src` to `dst`. */
export function proxyV2Header(protocol: 'tcp' | 'udp', src: { address: string; port: number }, dst: { address: string; port: number }): Buffer {
  const s = plain(src.address);
  const d = plain(dst.address);
  const v4 = net.isIPv4(s) && net.isIPv4(d);
  const family = (v4 ? 0x10 : 0x20) | (protocol === 'tcp' ? 0x01 : 0x02);
  const addrLen = v4 ? 12 : 36;
  const head = Buffer.alloc(16 + addrLen);
  SIGNATURE.copy(head, 0);
  head[12] = 0x21; // version 2, PROXY
  head[13] = family;
  head.writeUInt16BE(addrLen, 14);
  const ipBytes = (ip: string) => (v4 ? Buffer.from(ip.split('.').map(Number)) : ipv6Bytes(ip));
  const size = v4 ? 4 : 16;
  ipBytes(s).copy(head, 16);
  ipBytes(d).copy(head, 16 + size);
  head.writeUInt16BE(src.port, 16 + 2 * size);
  head.writeUInt16BE(dst.port, 18 + 2 * size);
  return head;
}

/** 16 bytes of an IPv6 address (an IPv4 one as ::ffff:a.b.c.d). */
function ipv6Bytes(ip: string): Buffer {
  const out = Buffer.alloc(16);
  if (net.isIPv4(ip)) {
    out[10] = 0xff;
    out[11] = 0xff;
    Buffer.from(ip.split('.').map(Number)).copy(out, 12);
    return out;
  }
  let text = ip;
  const tail4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail4) {
    const [a, b, c, d] = tail4[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, -tail4[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left, right] = text.split('::') as [string, string | undefined];
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  const groups = [...l, ...Array<string>(8 - l.length - r.length).fill('0'), ...r];
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

interface Target {
  service: string;
  targetPort: number;
  backends: string[];
}

interface Listener {
  key: string;
  target: Target;
  close(): Promise<void>;
}

export class IngressProxy {
  private readonly listeners = new Map<string, Listener>();
  private localAddress: string | undefined;

  constructor(private readonly log: Logger) {}

  /** The address the forwarder connects from (the node's bridge gateway). */
  setLocalAddress(address: string | undefined): void {
    this.localAddress = address;
  }

  /** Opens the proxyProtocol ports of `endpoints`, closes the others; open ones get the new backends at once. */
  update(endpoints: readonly ServiceEndpoints[]): void {
    const wanted = new Map<string, { protocol: 'tcp' | 'udp'; port: number; target: Target }>();
    for (const e of endpoints) {
      for (const p of e.ingress ?? []) {
        if (!p.proxyProtocol) continue;
        wanted.set(`${p.publishedPort}/${p.protocol}`, { protocol: p.protocol, port: p.publishedPort, target: { service: e.service, targetPort: p.targetPort, backends: [...e.addresses] } });
      }
    }
    for (const [key, l] of this.listeners) {
      if (wanted.has(key)) continue;
      this.listeners.delete(key);
      void l.close();
    }
    for (const [key, w] of wanted) {
      const open = this.listeners.get(key);
      if (open) {
        open.target = w.target;
        continue;
      }
      const l = w.protocol === 'tcp' ? this.listenTcp(key, w.port, w.target) : this.listenUdp(key, w.port, w.target);
      this.listeners.set(key, l);
    }
  }

  async close(): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => l.close()));
  }

  private pick(target: Target): string | undefined {
    const list = target.backends;
    return list.length ? list[Math.floor(Math.random() * list.length)] : undefined;
  }

  private listenTcp(key: string, port: number, target: Target): Listener {
    const sockets = new Set<net.Socket>();
    const listener: Listener = { key, target, close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    } };
    const server = net.createServer({ pauseOnConnect: true }, (client) => {
      const backend = this.pick(listener.target);
      if (!backend || !client.remoteAddress || !client.localAddress) {
        client.destroy();
        return;
      }
      const header = proxyV2Header('tcp', { address: client.remoteAddress, port: client.remotePort ?? 0 }, { address: client.localAddress, port: client.localPort ?? port });
      const upstream = net.connect({ host: backend, port: listener.target.targetPort, ...(this.localAddress ? { localAddress: this.localAddress } : {}) });
      sockets.add(client);
      sockets.add(upstream);
      upstream.setNoDelay(true);
      client.setNoDelay(true);
      upstream.write(header);
      upstream.once('connect', () => {
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      const end = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    server.on('error', (err) => this.log.error({ err: errorMessage(err), port, service: target.service }, 'ingress port cannot listen (proxy protocol)'));
    server.listen({ port, host: '0.0.0.0' }, () => this.log.info({ port, protocol: 'tcp', service: target.service }, 'ingress port open (proxy protocol)'));
    return listener;
  }

  private listenUdp(key: string, port: number, target: Target): Listener {
    const sessions = new Map<string, { socket: dgram.Socket; timer: NodeJS.Timeout; header: Buffer }>();
    const socket = dgram.createSocket('udp4');
    const listener: Listener = { key, target, close: async () => {
      for (const s of sessions.values()) {
        clearTimeout(s.timer);
        s.socket.close();
      }
      sessions.clear();
      await new Promise<void>((resolve) => socket.close(() => resolve()));
    } };
    socket.on('message', (msg, rinfo) => {
      const id = `${rinfo.address}:${rinfo.port}`;
      let s = sessions.get(id);
      if (!s) {
        const backend = this.pick(listener.target);
        if (!backend) return;
        const up = dgram.createSocket('udp4');
        // node:dgram does not tell which of the node's addresses a datagram came to: the header says 0.0.0.0.
        const local = socket.address();
        const header = proxyV2Header('udp', { address: rinfo.address, port: rinfo.port }, { address: local.address, port: local.port });
        const session = { socket: up, header, timer: setTimeout(() => undefined, 0) };
        const expire = () => {
          sessions.delete(id);
          up.close();
        };
        session.timer = setTimeout(expire, UDP_IDLE_MS);
        up.on('message', (reply) => {
          socket.send(reply, rinfo.port, rinfo.address);
          session.timer.refresh();
        });
        up.on('error', () => {
          clearTimeout(session.timer);
          expire();
        });
        up.bind({ port: 0, ...(this.localAddress ? { address: this.localAddress } : {}) }, () => up.connect(listener.target.targetPort, backend));
        sessions.set(id, session);
        s = session;
      }
      const out = Buffer.concat([s.header, msg]);
      const send = () => s.socket.send(out);
      s.timer.refresh();
      // The first datagram may come before the session's socket is connected.
      try {
        s.socket.remoteAddress();
        send();
      } catch {
        s.socket.once('connect', send);
      }
    });
    socket.on('error', (err) => this.log.error({ err: errorMessage(err), port, service: target.service }, 'ingress port cannot listen (proxy protocol, udp)'));
    socket.bind({ port, address: '0.0.0.0' }, () => this.log.info({ port, protocol: 'udp', service: target.service }, 'ingress port open (proxy protocol)'));
    return listener;
  }
}
