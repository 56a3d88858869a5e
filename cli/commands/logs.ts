// `berth logs TASK | service/NAME`: a task's output (or every running task's of a service, each
// line prefixed with its task), stdout lines on stdout and stderr lines on stderr. `-f` follows,
// across restarts of the task's slot (a service: also its new tasks), until Ctrl-C (exit 0).
import type { LogsMessage } from '../../common/logs.js';
import { ApiError } from '../api-client.js';
import { boolOpt, stringOpt, UsageError, type ClientCommand, type CommandContext } from '../command.js';
import { readNdjson } from '../ndjson.js';
import { parseSince } from '../since.js';

export interface LogsTarget {
  kind: 'task' | 'service';
  name: string;
}

export const logsCommand: ClientCommand = {
  name: 'logs',
  summary: "Print a task's output, or every running task's of a service",
  usage: 'berth logs TASK | service/NAME [-f] [--tail N] [--since DURATION|TIME] [--timestamps]',
  description: [
    'TASK is a task name, id or unique id prefix. stdout lines go to stdout and stderr lines to stderr.',
    'With service/NAME every running task of the service is shown, each line prefixed with "TASK | ".',
    'With -f the output is followed: when the task ends and a new task takes its slot (a restart), the',
    'new task is followed in the same stream; for a service, tasks that start later are added. Ctrl-C ends it.',
    'The process runtime records no line times: --since is refused and --timestamps shows none for its tasks.',
  ].join('\n'),
  examples: [
    'berth logs web.1.x7k2q',
    'berth logs -f --tail 20 web.1.x7k2q',
    'berth logs service/web --since 10m --timestamps',
  ],
  options: {
    follow: { type: 'boolean', short: 'f', description: 'keep printing new lines (across restarts of the slot) until Ctrl-C' },
    tail: { type: 'string', valueName: 'N', description: 'only the last N lines of each task (default: all)' },
    since: { type: 'string', valueName: 'D|TIME', description: 'only lines newer than a duration (30s, 10m, 2h) or an RFC 3339 time' },
    timestamps: { type: 'boolean', description: 'print the time the runtime recorded before each line' },
  },
  async run(ctx, args) {
    const target = parseLogsTarget(args.positionals);
    const q = new URLSearchParams();
    const follow = boolOpt(args.values, 'follow');
    if (follow) q.set('follow', 'true');
    const tail = stringOpt(args.values, 'tail');
    if (tail !== undefined) {
      if (!/^\d+$/.test(tail)) throw new UsageError(`--tail takes a whole number of lines, not "${tail}"`, 'logs');
      q.set('tail', tail);
    }
    const since = stringOpt(args.values, 'since');
    if (since !== undefined) q.set('since', parseSince(since, ctx.now()));
    const path = `/v1/${target.kind === 'task' ? 'tasks' : 'services'}/${encodeURIComponent(target.name)}/logs?${q.toString()}`;
    return streamLogs(ctx, path, { prefix: target.kind === 'service', timestamps: boolOpt(args.values, 'timestamps') });
  },
};

export function parseLogsTarget(positionals: readonly string[]): LogsTarget {
  if (positionals.length !== 1) throw new UsageError('logs takes one TASK or service/NAME', 'logs');
  const ref = positionals[0]!;
  const m = /^(?:service|services|svc)\/(.+)$/.exec(ref);
  if (m) return { kind: 'service', name: m[1]! };
  if (/^(?:task|tasks)\/(.+)$/.test(ref)) return { kind: 'task', name: ref.slice(ref.indexOf('/') + 1) };
  if (ref.includes('/')) throw new UsageError(`logs takes a TASK or service/NAME, not "${ref}"`, 'logs');
  return { kind: 'task', name: ref };
}

/** The text printed for one message, and where; undefined for a message that is not a line. */
export function renderLogMessage(m: LogsMessage, opts: { prefix: boolean; timestamps: boolean }): { to: 'out' | 'err'; text: string } | undefined {
  if ('line' in m) {
    const text = `${opts.prefix ? `${m.task} | ` : ''}${opts.timestamps && m.time ? `${m.time} ` : ''}${m.line}`;
    return { to: m.stream === 'stderr' ? 'err' : 'out', text };
  }
  if ('notice' in m) return { to: 'err', text: `berth: ${m.notice}` };
  return undefined;
}

async function streamLogs(ctx: CommandContext, path: string, opts: { prefix: boolean; timestamps: boolean }): Promise<number> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const res = await ctx.client().openStream('GET', path, { signal: stop.signal });
    for await (const obj of readNdjson(res.body)) {
      const m = obj as LogsMessage;
      if ('error' in m) throw new ApiError(m.error === 'InstanceNotFound' ? 404 : 502, m.error, m.message);
      const r = renderLogMessage(m, opts);
      if (r) ctx[r.to](r.text);
    }
    return 0;
  } catch (err) {
    // Ctrl-C: the request is cancelled, which ends the agent's read too.
    if (stop.signal.aborted) return 0;
    throw err;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
