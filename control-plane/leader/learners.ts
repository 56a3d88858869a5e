// The leader promotes joined servers' etcd members: a server joining (`berth server --join`) is
// added as a learner, which has no vote, so a joiner that never comes up costs the cluster no
// quorum. Once its etcd has started and caught up, the leader makes it a voting member; etcd
// refuses a learner not yet in sync, and the next pass tries again.
//
// Owns: promotion only. Must not: add or remove members.
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';
import type { Controller } from '../controller/controller.js';
import type { Store } from '../store/store.js';

export const PROMOTE_EVERY_MS = 1_000;

export class LearnerPromoter implements Controller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    logger: Logger,
    private readonly everyMs = PROMOTE_EVERY_MS,
  ) {
    this.log = logger.child({ component: 'learner-promoter' });
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.pass().finally(() => (this.running = undefined));
    }, this.everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async pass(): Promise<void> {
    let learners;
    try {
      learners = (await this.store.members()).filter((m) => m.learner && m.name);
    } catch {
      return; // etcd not answering: the next pass
    }
    for (const m of learners) {
      try {
        await this.store.promoteMember(m.id);
        this.log.info({ member: m.name, id: m.id }, 'promoted a joined server\'s etcd member to a voting member');
      } catch (err) {
        this.log.debug({ member: m.name, err: errorMessage(err) }, 'learner not promoted yet');
      }
    }
  }
}
