// Events: what happened to an object (scheduled, started, unhealthy, node down, rescheduled...),
// kept for a bounded time. The events of one flush are stored together, up to EVENTS_PER_KEY
// under one etcd key named after the first of them, attached to a lease, so etcd forgets them by
// itself; no cleanup loop is needed.
//
// Owns: recording (batched, fire-and-forget: a lost event must never block or fail the work it
// describes) and reading. Must not: decide anything from events.
//
// The loop is the controllers' work queue (controller/work-queue.ts) with a single key, a
// flush (a fixed flushMs after the first event). A flush the store refuses is retried with
// backoff; meanwhile up to MAX_BUFFERED events wait, and older ones beyond that are dropped.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { keys } from '../store/keys.js';
import type { Store, WriteOp } from '../store/store.js';
import { storedEvents, type BerthEvent, type EventInput, type StoredEvents } from '../../common/events.js';
import { errorMessage } from '../../common/errors.js';
import type { Controller } from '../controller/controller.js';
import { WorkQueue } from '../controller/work-queue.js';

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
/** Events kept while the store is unreachable; the oldest beyond are dropped (a flush that works takes any number). */
export const MAX_BUFFERED = 10 * EVENTS_PER_KEY;
/** The queue's one key. */
const FLUSH = 'flush';

export class EventRecorder implements Controller {
  private buffer: BerthEvent[] = [];
  /** Events dropped since the store last took a flush. */
  private dropped = 0;
  private readonly work: WorkQueue<string>;
  private lease: { id: string; renewAt: number } | undefined;
  private seq = 0;
  /** Makes ids unique across processes; within one, time and sequence do. */
  private readonly suffix = randomBytes(3).toString('hex');
  private readonly log: Logger;
  private stopped = false;

  constructor(private readonly opts: EventRecorderOptions) {
    this.log = opts.logger.child({ component: 'events' });
    const flushMs = opts.flushMs ?? 50;
    this.work = new WorkQueue<string>({ logger: this.log, quietMs: flushMs, maxDelayMs: flushMs, process: () => this.flush() });
    this.work.start();
  }

  /** Nothing to start: recording works from construction (kept for the controllers' shape). */
  start(): void {}

  record(input: EventInput): void {
    if (this.stopped) return;
    const now = new Date();
    const id = `${String(now.getTime()).padStart(14, '0')}-${String(this.seq++ % 1e6).padStart(6, '0')}-${this.suffix}`;
    this.buffer.push({ ...input, id, time: now.toISOString() });
    this.log.debug({ reason: input.reason, object: input.object, msg2: input.message }, 'event');
    if (this.work.failing) this.trim();
    this.work.add(FLUSH);
  }

  /** Writes what is queued (one attempt), then stops accepting events. Safe to call more than once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.work.stop();
    const batch = this.takeBuffer();
    this.stopped = true;
    try {
      await this.write(batch);
    } catch (err) {
      this.log.warn({ err: errorMessage(err), dropped: batch.length + this.dropped }, 'events not recorded');
    }
  }

  /** One flush: a failure keeps the events for the retry (the queue logs the outage once). */
  private async flush(): Promise<void> {
    const batch = this.takeBuffer();
    try {
      await this.write(batch);
    } catch (err) {
      this.buffer = batch.concat(this.buffer);
      this.trim();
      throw err;
    }
    if (this.dropped) {
      this.log.warn({ dropped: this.dropped }, 'events dropped while the store was unreachable');
      this.dropped = 0;
    }
  }

  private takeBuffer(): BerthEvent[] {
    const batch = this.buffer;
    this.buffer = [];
    return batch;
  }

  /** Drops the oldest events beyond MAX_BUFFERED (while the store refuses them only). */
  private trim(): void {
    const over = this.buffer.length - MAX_BUFFERED;
    if (over <= 0) return;
    this.buffer.splice(0, over);
    this.dropped += over;
  }

  private async write(batch: BerthEvent[]): Promise<void> {
    if (!batch.length) return;
    const lease = await this.currentLease();
    const ops: WriteOp[] = [];
    for (let i = 0; i < batch.length; i += EVENTS_PER_KEY) {
      const items = batch.slice(i, i + EVENTS_PER_KEY);
      const value: StoredEvents = { items };
      ops.push({ type: 'put', key: `${keys.events}${items[0]!.id}`, value, lease });
    }
    await this.opts.store.batch(ops);
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
