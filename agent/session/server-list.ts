// The control-plane servers an agent may reach: the address it was given (`--server`) and the
// dispatcher addresses the servers told it over the session (every registered server's), kept in
// the data dir (`servers.json`) so a restarted agent can reach a server other than the one on its
// command line. Owns: which address the next connection attempt dials. The agent stays with the
// server it reached; when that one stops answering it moves on through the others in an order
// of its own (shuffled per agent, so thousands of agents that lost one server spread over the
// survivors instead of all trying the same one), coming round again to the first when all failed.
// Must not: connect anywhere itself (session.ts dials, identity.ts holds the TLS client).
import path from 'node:path';
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';
import { readIfExists, writePublicFile } from '../../common/pki/files.js';

export const SERVERS_FILE = 'servers.json';

export interface ServerListOptions {
  /** The address the agent was given: always kept, tried first at start. */
  configured: string;
  /** Where `servers.json` is kept; undefined: in memory only (hollow nodes). */
  dir?: string;
  logger: Logger;
  random?: () => number;
}

export class ServerList {
  /** The addresses in the order this agent tries them; `index` is the one in use. */
  private order: string[];
  private index = 0;
  private readonly random: () => number;

  constructor(private readonly opts: ServerListOptions) {
    this.order = [opts.configured];
    this.random = opts.random ?? Math.random;
  }

  /** Adds the addresses kept by an earlier run (after the configured one, which is tried first). */
  async load(): Promise<void> {
    if (!this.opts.dir) return;
    const file = path.join(this.opts.dir, SERVERS_FILE);
    try {
      const text = await readIfExists(file);
      if (!text) return;
      const parsed = JSON.parse(text) as { agentAddresses?: unknown };
      const kept = Array.isArray(parsed.agentAddresses) ? parsed.agentAddresses.filter((a): a is string => typeof a === 'string' && !!a) : [];
      this.order = [this.opts.configured, ...this.shuffle(kept.filter((a) => a !== this.opts.configured))];
      if (kept.length) this.opts.logger.info({ servers: this.order }, 'known servers read from the data dir');
    } catch (err) {
      this.opts.logger.warn({ err: errorMessage(err), file }, 'unreadable list of servers ignored');
    }
  }

  /** The address to dial now. */
  get current(): string {
    return this.order[this.index]!;
  }

  /** Every address known, in trying order. */
  get all(): string[] {
    return [...this.order];
  }

  /** The current server did not answer (or its session ended): the next address to dial. */
  advance(): string {
    this.index = (this.index + 1) % this.order.length;
    return this.current;
  }

  /**
   * The servers' list of agent addresses (sent over the session). The address in use stays in
   * use; new ones join the order at random places; the configured one is always kept (it may be
   * a load balancer's). Returns true if the set changed (and it was written to the data dir).
   */
  async update(addresses: string[]): Promise<boolean> {
    const next = new Set(addresses.filter(Boolean));
    next.add(this.opts.configured);
    next.add(this.current);
    const known = new Set(this.order);
    if (next.size === known.size && [...next].every((a) => known.has(a))) return false;
    const current = this.current;
    const kept = this.order.filter((a) => next.has(a) && a !== current);
    for (const a of next) {
      if (known.has(a) || a === current) continue;
      kept.splice(Math.floor(this.random() * (kept.length + 1)), 0, a);
    }
    this.order = [current, ...kept];
    this.index = 0;
    this.opts.logger.info({ servers: this.order }, 'servers to fail over to updated');
    await this.save(addresses.filter(Boolean));
    return true;
  }

  private async save(addresses: string[]): Promise<void> {
    if (!this.opts.dir) return;
    try {
      await writePublicFile(path.join(this.opts.dir, SERVERS_FILE), `${JSON.stringify({ agentAddresses: addresses }, null, 2)}\n`);
    } catch (err) {
      this.opts.logger.warn({ err: errorMessage(err) }, 'could not keep the list of servers in the data dir');
    }
  }

  private shuffle(values: string[]): string[] {
    const out = [...values];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}
