// The node's resolver for its tasks (docs/networking.md): UDP on the cluster bridge's gateway
// address, port 53. `<service>` answers the service's virtual address, `tasks.<service>` every
// ready task's address (TTL 0: a client asks again, so a task gone is gone from its next answer);
// any other name is forwarded to the host's resolver and its answer relayed as is.
// A stack's services are also found as `<service>.<stack>` and `<service>.<stack>.berth` (and
// `tasks.` before either), the names of service `<stack>-<service>` that `stack deploy` names;
// with `<stack>.berth` and `berth` as the containers' search domains, a bare `db` finds the
// stack's own `db`, and any other service its Berth name (stackAlias). Names under `.berth` are the cluster's: one that is no service is answered
// NXDOMAIN here, never forwarded.
//
// Must not: decide what a name means (it asks `lookup`) or know the protocol.
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';

const TYPE_A = 1;
const CLASS_IN = 1;
const FORWARD_TIMEOUT_MS = 3000;

/**
 * Addresses of a cluster name, or undefined when the name is not the cluster's; null when it is
 * the cluster's but not for `client` (the asking address: no network in common), answered NXDOMAIN.
 */
export type Lookup = (name: string, client?: string) => string[] | undefined | null | Promise<string[] | undefined | null>;

const NXDOMAIN = 3;

export interface Question {
  id: number;
  flags: number;
  name: string;
  type: number;
  klass: number;
  /** Offset just past the question (the question bytes are echoed in the answer). */
  end: number;
}

/** The domain whose names only the cluster answers (a stack's search domain is `<stack>.berth`). */
export const CLUSTER_DOMAIN = 'berth';

/** Whether `name` is under the cluster's own domain. */
export function inClusterDomain(name: string): boolean {
  return name.replace(/\.$/, '').toLowerCase().endsWith(`.${CLUSTER_DOMAIN}`);
}

/**
 * `<service>.berth` as the service `<service>`, `<service>.<stack>[.berth]` as the Berth service `<stack>-<service>` (`_` and `.` of the compose name as
 * `-`, as `stack deploy` names it), `tasks.<service>.<stack>` as `tasks.<stack>-<service>`;
 * undefined for a name of one label.
 */
export function stackAlias(name: string): string | undefined {
  const labels = name.replace(/\.$/, '').toLowerCase().split('.');
  const owned = inClusterDomain(name);
  if (owned) labels.pop();
  const tasks = labels[0] === 'tasks' && labels.length > (owned ? 1 : 2);
  const rest = tasks ? labels.slice(1) : labels;
  if (!rest.length || rest.some((l) => !l)) return undefined;
  // `<service>.berth`: any service by its Berth name (a stack's containers search `berth` last).
  if (rest.length === 1) return owned ? `${tasks ? 'tasks.' : ''}${rest[0]}` : undefined;
  const stack = rest.pop()!;
  return `${tasks ? 'tasks.' : ''}${stack}-${rest.join('-').replace(/_/g, '-')}`;
}

/** The first question of a query, or undefined when it is not one this server can read. */
export function parseQuery(msg: Buffer): Question | undefined {
  if (msg.length < 12) return undefined;
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000 || msg.readUInt16BE(4) < 1) return undefined; // a response, or no question
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    const len = msg[off];
    if (len === undefined || len > 63) return undefined; // truncated, or a pointer in a query
    off += 1;
    if (len === 0) break;
    if (off + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', off, off + len));
    off += len;
  }
  if (off + 4 > msg.length) return undefined;
  return { id: msg.readUInt16BE(0), flags, name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(off), klass: msg.readUInt16BE(off + 2), end: off + 4 };
}

/** The answer to `q` (echoing its question) with one A record per address; NODATA for other types. */
export function answer(query: Buffer, q: Question, addresses: string[], rcode = 0): Buffer {
  const records = q.type === TYPE_A && q.klass === CLASS_IN ? addresses : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  header.writeUInt16BE(0x8000 | 0x0400 | (q.flags & 0x0100) | 0x0080 | (rcode & 0xf), 2); // QR, AA, RD copied, RA; rcode
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(records.length, 6);
  const question = query.subarray(12, q.end);
  const rrs = records.map((addr) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(0, 6); // TTL 0
    rr.writeUInt16BE(4, 10);
    addr.split('.').forEach((p, i) => rr.writeUInt8(Number(p), 12 + i));
    return rr;
  });
  return Buffer.concat([header, question, ...rrs]);
}

/** NXDOMAIN for `q` (echoing its question), as the authority of the cluster's domain. */
export function notFound(query: Buffer, q: Question): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  header.writeUInt16BE(0x8000 | 0x0400 | (q.flags & 0x0100) | 0x0080 | 3, 2); // QR, AA, RD copied, RA; NXDOMAIN
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, query.subarray(12, q.end)]);
}

/** The host's first name server (from resolv.conf), where other names are forwarded. */
export function upstreamResolver(resolvConf = '/etc/resolv.conf'): string | undefined {
  try {
    for (const line of readFileSync(resolvConf, 'utf8').split('\n')) {
      const m = /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
      if (m) return m[1];
    }
  } catch {
    // no resolv.conf: nothing to forward to
  }
  return undefined;
}

export class ClusterDns {
  private socket: dgram.Socket | undefined;
  private address: string | undefined;
  /** The upstream's port (53; tests point it elsewhere). */
  forwardPort = 53;

  constructor(
    private readonly lookup: Lookup,
    private readonly log: Logger,
    private readonly upstream = upstreamResolver(),
  ) {}

  /** Listens on `address`:53 (again on a new address if it changed). */
  async listen(address: string, port = 53): Promise<void> {
    if (this.address === address && this.socket) return;
    await this.close();
    const socket = dgram.createSocket('udp4');
    socket.on('message', (msg, from) => this.onQuery(socket, msg, from));
    socket.on('error', (err) => this.log.warn({ err: err.message }, 'cluster DNS socket error'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.socket = socket;
    this.address = address;
    this.log.info({ address, port, upstream: this.upstream }, 'cluster DNS listening');
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    this.address = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private onQuery(socket: dgram.Socket, msg: Buffer, from: dgram.RemoteInfo): void {
    const q = parseQuery(msg);
    // A stack's short name (`db` in stack `shop`) is tried as the stack's service when it is no name of its own.
    const alias = q ? stackAlias(q.name) : undefined;
    const first = q ? this.lookup(q.name, from.address) : undefined;
    const found = first === undefined && alias ? this.lookup(alias, from.address) : first;
    if (found instanceof Promise) {
      found.then(
        async (addresses) => this.reply(socket, msg, from, q, addresses === undefined && alias && found === first ? await this.lookup(alias, from.address) : addresses),
        (err: unknown) => this.log.debug({ err: errorMessage(err) }, 'cluster DNS lookup failed'),
      );
      return;
    }
    this.reply(socket, msg, from, q, found);
  }

  private reply(socket: dgram.Socket, msg: Buffer, from: dgram.RemoteInfo, q: Question | undefined, addresses: string[] | undefined | null): void {
    if (q && addresses) {
      socket.send(answer(msg, q, addresses), from.port, from.address);
      return;
    }
    if (q && addresses === null) {
      socket.send(answer(msg, q, [], NXDOMAIN), from.port, from.address);
      return;
    }
    if (q && inClusterDomain(q.name)) {
      socket.send(notFound(msg, q), from.port, from.address);
      return;
    }
    if (!this.upstream) return; // nothing to ask: the client times out as with no resolver
    const out = dgram.createSocket('udp4');
    const timer = setTimeout(() => out.close(), FORWARD_TIMEOUT_MS);
    out.on('message', (reply) => {
      clearTimeout(timer);
      socket.send(reply, from.port, from.address);
      out.close();
    });
    out.on('error', (err) => {
      clearTimeout(timer);
      this.log.debug({ err: errorMessage(err) }, 'forwarding a DNS query failed');
      out.close();
    });
    out.send(msg, this.forwardPort, this.upstream);
  }
}
