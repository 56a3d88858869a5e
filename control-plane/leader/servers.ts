// This server's registration: `servers/<name>` = where it serves (API URL, agent address), its
// version, start time and whether its etcd answers, on the server lease, so `berth get servers`
// lists the servers alive now and a dead one drops out within the lease's TTL. Written again under a new lease after a
// lost one. Which of them leads is the leader key's to say (election.ts); `serverViews` joins both.
import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';
import { serverKeys } from '../store/keys.js';
import type { Store } from '../store/store.js';
import type { LeaderRecord } from './election.js';
import type { ServerLease } from './server-lease.js';
import type { EtcdHealthState } from './etcd-health.js';

export interface ServerRecord {
  name: string;
  /** The API's URL. */
  apiUrl: string;
  /** Where agents join (HOST:PORT of the dispatcher). */
  agentAddress: string;
  /** Berth's version on that server (not `version`: the store gives that name the key's revision). */
  serverVersion: string;
  startedAt: string;
  /** Whether this server's etcd answers (etcd-health.ts); absent in older registrations. */
  etcd?: EtcdHealthState;
  /** The endpoints that did not answer healthy, with why (unhealthy only). */
  etcdProblems?: string[];
}

/** A server as the API shows it. */
export interface ServerView extends ServerRecord {
  leader: boolean;
  /** When it became leader (leader only). */
  leaderSince?: string;
}

export class ServerRegistration {
  private unsubscribe: () => void = () => true;
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly lease: ServerLease,
    private record: ServerRecord,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'server-registration' });
  }

  async start(): Promise<void> {
    await this.write(this.lease.id);
    this.unsubscribe = this.lease.subscribe({
      lost: () => undefined,
      renewed: (leaseId) => void this.write(leaseId).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'could not register this server again')),
    });
  }

  stop(): void {
    this.unsubscribe();
  }

  /** Changes what the registration says (the etcd health) and writes it again. */
  async update(patch: Partial<Omit<ServerRecord, 'name'>>): Promise<void> {
    const { etcdProblems: _p, ...rest } = this.record;
    this.record = { ...rest, ...patch };
    try {
      await this.write(this.lease.id);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'could not update this server\'s registration');
    }
  }

  private async write(leaseId: string): Promise<void> {
    await this.store.txn([{ type: 'put', key: serverKeys.server(this.record.name), value: this.record, lease: leaseId }]);
  }
}

/** Every registered server, the leader marked, by name. */
export async function serverViews(store: Store): Promise<ServerView[]> {
  const [{ items }, leader] = await Promise.all([store.list<ServerRecord>(serverKeys.servers), store.get<LeaderRecord>(serverKeys.leader)]);
  return items
    .map(({ version: _v, ...s }: ServerRecord & { version?: unknown }) => ({
      ...s,
      leader: s.name === leader?.name,
      ...(s.name === leader?.name ? { leaderSince: leader.since } : {}),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
