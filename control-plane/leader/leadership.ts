// Leadership: the controllers that make the cluster's decisions (orchestrator with its rollout
// updater, scheduler, node liveness judge) run on the elected leader only. Each term builds them
// afresh around a fenced writer (store.fenced), starts them in order, and stops them in reverse
// when the term ends (lease lost, a fenced write refused, or the server stopping), before the
// election resigns. Terms start and stop one at a time, in the order the election reports them.
import type { Logger } from 'pino';
import { EventType } from '../../common/events.js';
import { errorMessage } from '../../common/errors.js';
import type { Controller } from '../controller/controller.js';
import type { EventRecorder } from '../events/recorder.js';
import type { Fence, Store } from '../store/store.js';
import { Election } from './election.js';
import type { ServerLease } from './server-lease.js';

export const LeaderEventReason = { LeaderElected: 'LeaderElected', LeaderLost: 'LeaderLost' } as const;

export interface LeadershipOptions {
  store: Store;
  lease: ServerLease;
  /** This server's name. */
  name: string;
  logger: Logger;
  events?: EventRecorder;
  /** The controllers of one term, built around the term's fenced writer; started in order. */
  term: (writer: Store, since: number) => Controller[];
}

export class Leadership implements Controller {
  private readonly election: Election;
  private readonly log: Logger;
  private current: Controller[] = [];
  /** Term starts and stops, one after another. */
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private leaderSince = 0;

  constructor(private readonly opts: LeadershipOptions) {
    this.log = opts.logger.child({ component: 'leadership' });
    this.election = new Election(opts.store, opts.lease, opts.name, {
      elected: (fence) => this.enqueue(() => this.begin(fence)),
      deposed: (why) => this.enqueue(() => this.end(why)),
    }, opts.logger);
  }

  get isLeader(): boolean {
    return this.election.isLeader;
  }

  /** Campaigns; a lone server has started its controllers when this resolves. */
  async start(): Promise<void> {
    await this.election.start();
    await this.chain;
  }

  /** Stops this term's controllers, then resigns. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.enqueue(() => this.end('server stopping'));
    await this.chain;
    await this.election.stop();
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((err: unknown) => this.log.error({ err: errorMessage(err) }, 'leadership change failed'));
  }

  private async begin(fence: Fence): Promise<void> {
    if (this.stopped || !this.election.isLeader) return;
    this.leaderSince = Date.now();
    const controllers = this.opts.term(this.opts.store.fenced(fence), this.leaderSince);
    this.current = controllers;
    for (const c of controllers) await c.start();
    this.log.info({ server: this.opts.name, controllers: controllers.length }, 'leading: controllers started');
    this.opts.events?.record({
      type: EventType.Normal,
      reason: LeaderEventReason.LeaderElected,
      object: { kind: 'server', name: this.opts.name },
      message: `server ${this.opts.name} is the leader`,
    });
  }

  private async end(why: string): Promise<void> {
    const controllers = this.current;
    if (!controllers.length) return;
    this.current = [];
    for (const c of [...controllers].reverse()) await c.stop();
    this.log.info({ server: this.opts.name, why, ledMs: Date.now() - this.leaderSince }, 'not leading: controllers stopped');
    if (why === 'server stopping') return;
    this.opts.events?.record({
      type: EventType.Warning,
      reason: LeaderEventReason.LeaderLost,
      object: { kind: 'server', name: this.opts.name },
      message: `server ${this.opts.name} is no longer the leader: ${why}`,
    });
  }
}
