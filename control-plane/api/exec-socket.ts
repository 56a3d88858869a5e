// Interactive exec (`berth exec -i/-t`): the WebSocket on `GET /v1/tasks/:ref/exec`
// (common/logs.ts gives its frames). Stdin and resizes go to the task's node through the
// dispatcher's ExecStream, output comes back as binary frames, the exit code as the last text
// frame. Checked like the POST route (permission tasks:exec) and recorded in the audit.
// Owns: the socket's frames and its audit entry. Must not: run the command (the agent does).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { errorMessage, NotFoundError } from '../../common/errors.js';
import { EXEC_STREAM_BYTE, type ExecControl, type ExecMessage } from '../../common/logs.js';
import type { AuditRecorder } from '../audit/recorder.js';
import { Permission } from '../auth/permissions.js';
import { NodeUnavailableError, type ExecStream, type TaskStreams } from '../dispatcher/task-streams.js';
import type { Store } from '../store/store.js';
import type { Access } from './access.js';
import { findTask } from './routes/tasks-nodes.js';
import { refuseUpgrade } from './watch.js';

const PATH = /^\/v1\/tasks\/([^/]+)\/exec$/;
/** The verb of the socket's audit entries. */
export const EXEC_SOCKET_VERB = 'GET /v1/tasks/:ref/exec (interactive)';
/** Output bytes sent but not yet written to the client's socket: above HIGH the agent is paused, resumed below LOW. */
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
/** A terminal size beyond this is refused as a typo. */
const MAX_SIZE = 10_000;

export interface ExecSocketOptions {
  store: Store;
  streams: TaskStreams;
  access: Pick<Access, 'authorize'>;
  audit?: AuditRecorder;
  logger: Logger;
}

interface ExecQuery {
  command: string[];
  tty: boolean;
  stdin: boolean;
  cols?: number;
  rows?: number;
}

export interface ExecSocket {
  /** Takes the upgrade if it is for this endpoint (true), else leaves it (false). */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): boolean;
  close(): void;
}

export function execSocket(opts: ExecSocketOptions): ExecSocket {
  const log = opts.logger.child({ component: 'exec-socket' });
  const wss = new WebSocketServer({ noServer: true });
  const open = new Set<WebSocket>();

  const audit = (source: string, ref: string, time: string, status: number, caller?: { token: string; role: string }, refused = false): void => {
    opts.audit?.record({
      time,
      token: caller?.token ?? '',
      role: caller?.role ?? '',
      source,
      verb: EXEC_SOCKET_VERB,
      objects: [`task/${ref}`],
      status,
      ...(refused ? { refused: true } : {}),
    });
  };

  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL, ref: string): Promise<void> => {
    const time = new Date().toISOString();
    // Read now: the socket forgets its peer once closed, when the entry is written.
    const source = req.socket.remoteAddress ?? '';
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() || undefined : undefined;
    const auth = await opts.access.authorize(token, Permission.TasksExec);
    if ('refusal' in auth) {
      audit(source, ref, time, auth.refusal.status, auth.caller, auth.refusal.status === 403);
      return refuseUpgrade(socket, auth.refusal.status, auth.refusal.error, auth.refusal.message);
    }
    const caller = auth.caller;
    const q = parseExecQuery(url.searchParams);
    if (typeof q === 'string') {
      audit(source, ref, time, 400, caller);
      return refuseUpgrade(socket, 400, 'BadRequest', q);
    }
    let task;
    try {
      task = await findTask(opts.store, ref);
    } catch (err) {
      const status = err instanceof NotFoundError ? 404 : 503;
      audit(source, ref, time, status, caller);
      return refuseUpgrade(socket, status, status === 404 ? 'NotFound' : 'Unavailable', errorMessage(err));
    }
    if (!task.nodeId || task.status.state !== 'running') {
      audit(source, ref, time, 409, caller);
      return refuseUpgrade(socket, 409, 'Conflict', `task ${task.name} is not running (state ${task.status.state})`);
    }
    const nodeId = task.nodeId;
    wss.handleUpgrade(req, socket, head, (ws) => {
      open.add(ws);
      let remote: ExecStream | undefined;
      let ended = false;
      let inFlight = 0;
      const finish = (m: ExecMessage): void => {
        if (ended) return;
        ended = true;
        if (ws.readyState === ws.OPEN) {
          ws.send(JSON.stringify(m));
          ws.close(1000, 'exec ended');
        }
      };
      ws.on('close', () => {
        open.delete(ws);
        if (!ended) remote?.cancel();
        ended = true;
        audit(source, ref, time, 200, caller);
      });
      ws.on('error', (err) => log.debug({ err: err.message }, 'exec socket error'));
      try {
        remote = opts.streams.openExec(
          nodeId,
          {
            taskId: task.id,
            command: q.command,
            ...(task.status.containerId ? { instanceId: task.status.containerId } : {}),
            tty: q.tty,
            stdin: q.stdin,
            ...(q.cols && q.rows ? { cols: q.cols, rows: q.rows } : {}),
          },
          {
            output: (stream, data) => {
              if (ws.readyState !== ws.OPEN) return;
              // A slow client pauses the command's output at the agent rather than piling it up here.
              const frame = Buffer.concat([Buffer.from([EXEC_STREAM_BYTE[stream]]), data]);
              inFlight += frame.length;
              if (inFlight > HIGH_WATER) remote?.pause();
              ws.send(frame, () => {
                inFlight -= frame.length;
                if (inFlight < LOW_WATER) remote?.resume();
              });
            },
            end: (r) => finish(r.failure ? { error: r.failure.reason, message: r.failure.message } : { exitCode: r.exitCode ?? -1 }),
          },
        );
      } catch (err) {
        finish({ error: err instanceof NodeUnavailableError ? 'NodeUnavailable' : 'Internal', message: errorMessage(err) });
        return;
      }
      const stream = remote;
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          stream.input({ data: Buffer.from(data) });
          return;
        }
        let c: ExecControl;
        try {
          c = JSON.parse(data.toString('utf8')) as ExecControl;
        } catch {
          return;
        }
        if ('resize' in c && validSize(c.resize?.cols) && validSize(c.resize?.rows)) stream.input({ cols: c.resize.cols, rows: c.resize.rows });
        else if ('closeStdin' in c) stream.input({ closeStdin: true });
      });
    });
  };

  return {
    handle(req, socket, head, url) {
      const m = PATH.exec(url.pathname);
      if (!m) return false;
      const ref = decodeURIComponent(m[1]!);
      upgrade(req, socket, head, url, ref).catch((err: unknown) => {
        log.error({ err }, 'interactive exec failed');
        refuseUpgrade(socket, 503, 'Unavailable', errorMessage(err));
      });
      return true;
    },
    close() {
      for (const ws of open) ws.close(1001, 'server stopping');
      for (const ws of open) ws.terminate();
      open.clear();
      wss.close();
    },
  };
}

function validSize(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) > 0 && (n as number) <= MAX_SIZE;
}

export function parseExecQuery(q: URLSearchParams): ExecQuery | string {
  const command = q.getAll('command');
  if (!command.length) return 'command: give the command, one `command` query parameter per argument';
  const flag = (name: string): boolean | string => {
    const v = q.get(name);
    if (v === null || v === '' || v === '0' || v === 'false') return false;
    if (v === '1' || v === 'true') return true;
    return `${name}: must be true or false (got "${v}")`;
  };
  const tty = flag('tty');
  const stdin = flag('stdin');
  if (typeof tty === 'string') return tty;
  if (typeof stdin === 'string') return stdin;
  const size: { cols?: number; rows?: number } = {};
  for (const name of ['cols', 'rows'] as const) {
    const v = q.get(name);
    if (v === null || v === '') continue;
    const n = Number(v);
    if (!validSize(n)) return `${name}: must be a whole number from 1 to ${MAX_SIZE} (got "${v}")`;
    size[name] = n;
  }
  return { command, tty, stdin, ...size };
}
