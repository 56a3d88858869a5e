// `berth exec TASK -- CMD ARGS...`: runs a command in the task's container (for the process
// runtime, a host process with the task's environment); its stdout and stderr are printed apart
// and `berth` exits with the command's exit code. With -i (stdin) or -t (a TTY) it is
// interactive, over a WebSocket (cli/exec-interactive.ts).
import type { ExecMessage } from '../../common/logs.js';
import { ApiError } from '../api-client.js';
import { boolOpt, UsageError, type ClientCommand } from '../command.js';
import { execInteractive } from '../exec-interactive.js';
import { readNdjson } from '../ndjson.js';

/** Exit code after Ctrl-C, as a shell reports a command ended by SIGINT. */
export const INTERRUPTED_EXIT = 130;

export const execCommand: ClientCommand = {
  name: 'exec',
  summary: "Run a command in a task's container and exit with its exit code",
  usage: 'berth exec [-i] [-t] TASK -- CMD [ARGS...]',
  description: [
    'TASK is a task name, id or unique id prefix; the task must be running.',
    "The command's stdout goes to stdout, its stderr to stderr, and berth exits with its exit code.",
    '-i sends stdin to the command (its end closes the command\'s stdin); -t gives it a terminal:',
    'with -it and a terminal, keys (Ctrl-C too) go to the command and its window size follows yours.',
  ].join('\n'),
  examples: [
    'berth exec web.1.x7k2q -- cat /etc/hostname',
    "berth exec web.1.x7k2q -- sh -c 'env | sort'",
    'berth exec -it web.1.x7k2q -- sh',
    'echo hello | berth exec -i web.1.x7k2q -- cat',
  ],
  options: {
    stdin: { type: 'boolean', short: 'i', description: 'send stdin to the command' },
    tty: { type: 'boolean', short: 't', description: 'give the command a terminal (raw mode here when stdin is one)' },
  },
  async run(ctx, args) {
    const [task, ...command] = args.positionals;
    if (!task) throw new UsageError('missing TASK', 'exec');
    if (!command.length) throw new UsageError('missing the command: berth exec TASK -- CMD [ARGS...]', 'exec');
    const stdin = boolOpt(args.values, 'stdin');
    const tty = boolOpt(args.values, 'tty');
    if (stdin || tty) return execInteractive(ctx.client(), task, command, { stdin, tty });
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const out = new LineBuffer((t) => ctx.out(t));
    const err = new LineBuffer((t) => ctx.err(t));
    try {
      const res = await ctx.client().openStream('POST', `/v1/tasks/${encodeURIComponent(task)}/exec`, { body: { command }, signal: stop.signal });
      for await (const obj of readNdjson(res.body)) {
        const m = obj as ExecMessage;
        if ('stream' in m) (m.stream === 'stderr' ? err : out).push(Buffer.from(m.data, 'base64').toString('utf8'));
        else if ('exitCode' in m) return m.exitCode;
        else throw new ApiError(m.error === 'InstanceNotFound' ? 404 : 502, m.error, m.message);
      }
      throw new ApiError(502, 'StreamEnded', 'the server ended the exec stream without an exit code');
    } catch (e) {
      if (stop.signal.aborted) return INTERRUPTED_EXIT;
      throw e;
    } finally {
      out.flush();
      err.flush();
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  },
};

/** The CLI prints whole lines; output cut mid-line waits for its end (or the command's). */
class LineBuffer {
  private pending = '';

  constructor(private readonly write: (text: string) => void) {}

  push(text: string): void {
    const all = this.pending + text;
    const cut = all.lastIndexOf('\n');
    if (cut < 0) {
      this.pending = all;
      return;
    }
    this.write(all.slice(0, cut + 1));
    this.pending = all.slice(cut + 1);
  }

  flush(): void {
    if (this.pending) this.write(this.pending);
    this.pending = '';
  }
}
