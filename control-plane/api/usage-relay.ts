// The usage the dispatcher holds (main thread), handed to the API thread on request, as the
// metrics are (metrics/relay.ts): the API thread asks over a MessagePort, the main thread
// answers with the views of its usage book.
//
// Owns: the request/answer protocol between the threads for usage.
import type { MessagePort } from 'node:worker_threads';
import type { NodeUsage, TaskUsage } from '../../common/usage.js';
import type { UsageQuery } from '../dispatcher/usage-book.js';

export interface UsageSource {
  answer(q: UsageQuery): NodeUsage[] | TaskUsage[];
}

type Request = { id: number; query: UsageQuery };
type Answer = { id: number; items?: NodeUsage[] | TaskUsage[]; error?: string };

/** Main thread: answers the API thread's usage requests from `source`. */
export function serveUsage(port: MessagePort, source: UsageSource): void {
  port.on('message', (m: Request) => {
    try {
      port.postMessage({ id: m.id, items: source.answer(m.query) } satisfies Answer);
    } catch (err) {
      port.postMessage({ id: m.id, error: (err as Error).message } satisfies Answer);
    }
  });
}

const ANSWER_TIMEOUT_MS = 5000;

/** API thread: this server's usage, from the main thread. */
export class UsageRelay {
  private seq = 0;
  private readonly waiting = new Map<number, (a: Answer) => void>();

  constructor(private readonly port: MessagePort) {
    port.on('message', (a: Answer) => {
      const done = this.waiting.get(a.id);
      this.waiting.delete(a.id);
      done?.(a);
    });
  }

  nodes(): Promise<NodeUsage[]> {
    return this.ask({ kind: 'nodes' }) as Promise<NodeUsage[]>;
  }

  tasks(filter: { service?: string; node?: string }): Promise<TaskUsage[]> {
    return this.ask({ kind: 'tasks', ...filter }) as Promise<TaskUsage[]>;
  }

  private async ask(query: UsageQuery): Promise<NodeUsage[] | TaskUsage[]> {
    const id = ++this.seq;
    const answer = await new Promise<Answer>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ id, error: `the control plane did not answer within ${ANSWER_TIMEOUT_MS} ms` });
      }, ANSWER_TIMEOUT_MS);
      this.waiting.set(id, (a) => {
        clearTimeout(timer);
        resolve(a);
      });
      this.port.postMessage({ id, query } satisfies Request);
    });
    if (answer.error || !answer.items) throw new Error(answer.error ?? 'no usage');
    return answer.items;
  }

  close(): void {
    this.port.close();
  }
}
