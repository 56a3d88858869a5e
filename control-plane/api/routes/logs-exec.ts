// GET /v1/tasks/:ref/logs, GET /v1/services/:name/logs and POST /v1/tasks/:ref/exec: streaming
// answers (NDJSON, common/logs.ts) relayed from the task's node through the dispatcher. Errors
// found before streaming (no such task, task not on a node, node not connected) are ordinary JSON
// error answers; once streaming, a failure is the last NDJSON line `{error, message}`.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { ConflictError, errorMessage, NotFoundError } from '../../../common/errors.js';
import type { ExecMessage } from '../../../common/logs.js';
import type { Service, Task } from '../../../common/types.js';
import { NodeUnavailableError, type RemoteStream, type TaskStreams } from '../../dispatcher/task-streams.js';
import { keys } from '../../store/keys.js';
import type { Store } from '../../store/store.js';
import { errorBodySchema } from '../errors.js';
import { parseLogsParams } from '../log-follow.js';
import { streamServiceLogs, streamTaskLogs, type LogStreamDeps } from '../log-streams.js';
import { NdjsonResponse } from '../ndjson-response.js';
import { findTask } from './tasks-nodes.js';

/** The task is not on a node (or, for exec, not running): 409, the request may work later. */
export class TaskNotReachableError extends ConflictError {
  constructor(task: Task, message: string) {
    super(keys.task(task.serviceName, task.id), message);
  }
}

const logsQuery = {
  type: 'object',
  properties: {
    follow: { type: 'string', enum: ['true', 'false', '1', '0'] },
    tail: { type: 'string' },
    since: { type: 'string', description: 'RFC 3339' },
  },
} as const;
const errors = { 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema, 409: errorBodySchema };
const ndjson = { 200: { description: 'NDJSON stream, one object per line (see common/logs.ts)', type: 'string' } };

export function logsAndExecRoutes(app: FastifyInstance, store: Store, streams: TaskStreams, logger: Logger): void {
  const log = logger.child({ component: 'logs-exec' });
  const deps: LogStreamDeps = { store, streams, logger: log };
  const open = new Set<NdjsonResponse>();
  // Open streams would keep the HTTP server from closing.
  app.addHook('preClose', (done) => {
    for (const out of open) out.end();
    done();
  });
  const serve = (reply: FastifyReply, run: (out: NdjsonResponse) => Promise<void>): void => {
    void reply.hijack();
    const out = new NdjsonResponse(reply.raw);
    open.add(out);
    void run(out)
      .catch((err: unknown) => {
        log.error({ err }, 'streaming failed');
        out.write({ error: 'Internal', message: errorMessage(err) });
      })
      .finally(() => {
        open.delete(out);
        out.end();
      });
  };

  app.get<{ Params: { ref: string }; Querystring: Record<string, string> }>(
    '/v1/tasks/:ref/logs',
    {
      config: { permission: 'tasks:logs' },
      schema: {
        summary: "A task's output (stdout and stderr apart), NDJSON; follow=true keeps streaming, across restarts of its slot",
        tags: ['tasks'],
        params: { type: 'object', required: ['ref'], properties: { ref: { type: 'string' } } },
        querystring: logsQuery,
        response: { ...ndjson, ...errors },
      },
    },
    async (req, reply) => {
      const params = parseLogsParams(req.query);
      const task = await findTask(store, req.params.ref);
      if (!task.nodeId) throw new TaskNotReachableError(task, `task ${task.name} is not on any node yet (state ${task.status.state})`);
      serve(reply, (out) => streamTaskLogs(deps, out, task, params));
    },
  );

  app.get<{ Params: { name: string }; Querystring: Record<string, string> }>(
    '/v1/services/:name/logs',
    {
      config: { permission: 'tasks:logs' },
      schema: {
        summary: 'The output of every running task of a service, NDJSON; follow=true also streams tasks that start later',
        tags: ['services'],
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
        querystring: logsQuery,
        response: { ...ndjson, ...errors },
      },
    },
    async (req, reply) => {
      const params = parseLogsParams(req.query);
      const name = req.params.name;
      if (!(await store.get<Service>(keys.service(name)))) throw new NotFoundError('service', name);
      serve(reply, (out) => streamServiceLogs(deps, out, name, params));
    },
  );

  app.post<{ Params: { ref: string }; Body: { command: string[] } }>(
    '/v1/tasks/:ref/exec',
    {
      config: { permission: 'tasks:exec' },
      schema: {
        summary: "Runs a command in a task's container (host process for the process runtime): output, then the exit code, NDJSON",
        tags: ['tasks'],
        params: { type: 'object', required: ['ref'], properties: { ref: { type: 'string' } } },
        body: {
          type: 'object',
          required: ['command'],
          additionalProperties: false,
          properties: { command: { type: 'array', minItems: 1, items: { type: 'string' } } },
        },
        response: { ...ndjson, ...errors },
      },
    },
    async (req, reply) => {
      const task = await findTask(store, req.params.ref);
      if (!task.nodeId || task.status.state !== 'running') {
        throw new TaskNotReachableError(task, `task ${task.name} is not running (state ${task.status.state})`);
      }
      serve(reply, (out) => runExec(streams, out, task, task.nodeId!, req.body.command));
    },
  );
}

function runExec(streams: TaskStreams, out: NdjsonResponse, task: Task, nodeId: string, command: string[]): Promise<void> {
  return new Promise<void>((resolve) => {
    let remote: RemoteStream | undefined;
    const write = (m: ExecMessage): void => out.write(m);
    const onAbort = (): void => {
      remote?.cancel();
      resolve();
    };
    try {
      remote = streams.openExec(
        nodeId,
        { taskId: task.id, command, ...(task.status.containerId ? { instanceId: task.status.containerId } : {}) },
        {
          output: (stream, data) => write({ stream, data: data.toString('base64') }),
          end: (r) => {
            out.signal.removeEventListener('abort', onAbort);
            if (r.failure) write({ error: r.failure.reason, message: r.failure.message });
            else write({ exitCode: r.exitCode ?? -1 });
            resolve();
          },
        },
      );
    } catch (err) {
      const reason = err instanceof NodeUnavailableError ? 'NodeUnavailable' : 'Internal';
      write({ error: reason, message: errorMessage(err) });
      resolve();
      return;
    }
    out.attach(remote);
    out.signal.addEventListener('abort', onAbort, { once: true });
  });
}
