// Routes an agent's answers to logs and exec requests (by request id) to whoever asked, on one
// Session stream. An end message (LogsEnd, ExecEnd) forgets the request; a session that closes
// ends every request still open on it, so no caller waits forever for a node that went away.
import type { AgentMessage__Output } from '../../proto/generated/berth/v1/AgentMessage.js';

export interface StreamHandler {
  /** An answer carrying the handler's request id (the last one is an end message). */
  message(msg: AgentMessage__Output): void;
  /** The session ended before the end message. */
  closed(reason: string): void;
}

/** The request id of an answer, and whether it ends the request; undefined for other messages. */
export function routeOf(msg: AgentMessage__Output): { requestId: string; final: boolean } | undefined {
  switch (msg.message) {
    case 'logChunk':
      return msg.logChunk ? { requestId: msg.logChunk.requestId, final: false } : undefined;
    case 'execOutput':
      return msg.execOutput ? { requestId: msg.execOutput.requestId, final: false } : undefined;
    case 'logsEnd':
      return msg.logsEnd ? { requestId: msg.logsEnd.requestId, final: true } : undefined;
    case 'execEnd':
      return msg.execEnd ? { requestId: msg.execEnd.requestId, final: true } : undefined;
    default:
      return undefined;
  }
}

export class StreamRouter {
  private readonly handlers = new Map<string, StreamHandler>();
  private closedWith: string | undefined;

  add(requestId: string, handler: StreamHandler): void {
    if (this.closedWith !== undefined) {
      handler.closed(this.closedWith);
      return;
    }
    this.handlers.set(requestId, handler);
  }

  /** The caller gave up (cancelled): later answers are dropped. */
  forget(requestId: string): void {
    this.handlers.delete(requestId);
  }

  /** True if the message was an answer to a request (routed, or dropped as unknown). */
  route(msg: AgentMessage__Output): boolean {
    const r = routeOf(msg);
    if (!r) return false;
    const handler = this.handlers.get(r.requestId);
    if (r.final) this.handlers.delete(r.requestId);
    handler?.message(msg);
    return true;
  }

  closeAll(reason: string): void {
    this.closedWith ??= reason;
    const open = [...this.handlers.values()];
    this.handlers.clear();
    for (const h of open) h.closed(reason);
  }

  get size(): number {
    return this.handlers.size;
  }
}
