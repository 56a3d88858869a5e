// Events: what happened to an object (scheduled, started, unhealthy, node down, rescheduled...),
// kept for a bounded time. The events of one flush are stored together, up to EVENTS_PER_KEY
// under one etcd key named after the first of them, attached to a lease, so etcd forgets them by
// itself; no cleanup loop is needed.
//
// Owns: recording (batched, fire-and-forget: a lost event must never block or fail the work it
// describes) and reading. Must not: decide anything from events.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { keys } from '../store/keys.js';
import type { Store, WriteOp } from '../store/store.js';
import { storedEvents, type BerthEvent, type EventInput, type StoredEvents } from '../../common/events.js';
import { errorMessage } from '../../common/errors.js';

export interface EventRecorderOptions {
  store: Store;
  logger: Logger;
  /** How long events are kept (default 1 hour). */
  ttlSeconds?: number;
  /** Gather events this long before writing them in one transaction. */
  flushMs?: number;
}

/** Events per stored value: well under etcd's request size limit (1.5 MiB) at ~300 bytes each. */
export const EVENTS_PER_KEY = 500;

export class EventRecorder {
  private queue: BerthEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private lease: { id: string; renewAt: number } | undefined;
  private seq = 0;
  /** Makes ids unique across processes; within one, time and sequence do. */
  private readonly suffix = randomBytes(3).toString('hex');
  private readonly log: Logger;
  private stopped = false;

  constructor(private readonly opts: EventRecorderOptions) {
    this.log = opts.logger.child({ component: 'events' });
  }

  record(input: EventInput): void {
    if (this.stopped) return;
    const now = new Date();
    const id = `${String(now.getTime()).padStart(14, '0')}-${String(this.seq++ % 1e6).padStart(6, '0')}-${this.suffix}`;
    this.queue.push({ ...input, id, time: now.toISOString() });
    this.log.debug({ reason: input.reason, object: input.object, msg2: input.message }, 'event');
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flush().finally(() => (this.flushing = undefined));
    }, this.opts.flushMs ?? 50);
  }

  /** Writes what is queued, then stops accepting events. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushing;
    await this.flush();
    this.stopped = true;
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    if (!batch.length) return;
    try {
      const lease = await this.currentLease();
      const ops: WriteOp[] = [];
      for (let i = 0; i < batch.length; i += EVENTS_PER_KEY) {
        const items = batch.slice(i, i + EVENTS_PER_KEY);
        const value: StoredEvents = { items };
        ops.push({ type: 'put', key: `${keys.events}${items[0]!.id}`, value, lease });
      }
      await this.opts.store.batch(ops);
    } catch (err) {
      this.log.warn({ err: errorMessage(err), dropped: batch.length }, 'events not recorded');
    }
  }

  /** One lease serves many events: renewed every tenth of the TTL, so none outlives TTL by much. */
  private async currentLease(): Promise<string> {
    const ttl = this.opts.ttlSeconds ?? 3600;
    if (!this.lease || Date.now() >= this.lease.renewAt) {
      const id = await this.opts.store.grantLease(ttl);
      this.lease = { id, renewAt: Date.now() + (ttl * 1000) / 10 };
    }
    return this.lease.id;
  }
}

/** Events, oldest first, optionally of one object. */
export async function listEvents(store: Store, filter: { kind?: string; name?: string } = {}): Promise<BerthEvent[]> {
  const { items: stored } = await store.list<StoredEvents | BerthEvent>(keys.events);
  const items = stored.flatMap(storedEvents);
  return items.filter((e) => (!filter.kind || e.object.kind === filter.kind) && (!filter.name || e.object.name === filter.name));
}
