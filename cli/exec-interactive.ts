// `berth exec -i/-t`: the interactive exec WebSocket (common/logs.ts gives its frames), over
// wss:// verified like the REST calls. With -t and a terminal on stdin, the terminal is put in raw
// mode (Ctrl-C and every key go to the command as bytes) and its size follows the window; with -i
// stdin is sent as it comes and its end closes the command's stdin.
// Must not: interpret what the command prints (bytes go to stdout/stderr as they come).
import WebSocket from 'ws';
import { EXEC_STREAM_BYTE, type ExecControl, type ExecMessage } from '../common/logs.js';
import { ApiError, type ApiClient } from './api-client.js';
import { tlsVerifyCode, tlsVerifyMessage } from './tls.js';

/** Exit code after Ctrl-C outside raw mode, as a shell reports a command ended by SIGINT. */
const INTERRUPTED_EXIT = 130;

export interface InteractiveOptions {
  tty: boolean;
  stdin: boolean;
}

/** Runs the command attached to this terminal; resolves with its exit code. */
export function execInteractive(client: ApiClient, task: string, command: string[], opts: InteractiveOptions): Promise<number> {
  const input = process.stdin;
  const output = process.stdout;
  const raw = opts.tty && opts.stdin && input.isTTY === true;
  const sized = opts.tty && output.isTTY === true;
  const params: [string, string][] = command.map((c) => ['command', c]);
  if (opts.tty) params.push(['tty', '1']);
  if (opts.stdin) params.push(['stdin', '1']);
  if (sized) params.push(['cols', String(output.columns)], ['rows', String(output.rows)]);
  const { url, headers } = client.socketTarget(`/v1/tasks/${encodeURIComponent(task)}/exec`, params);

  return new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: 10_000, ...(client.ca ? { ca: client.ca } : {}) });
    let exitCode: number | undefined;
    let failure: Error | undefined;
    const control = (c: ExecControl): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(c));
    };
    const onData = (d: Buffer): void => {
      if (ws.readyState === ws.OPEN) ws.send(d);
    };
    const onEnd = (): void => control({ closeStdin: true });
    const onResize = (): void => control({ resize: { cols: output.columns, rows: output.rows } });
    const onSignal = (): void => {
      exitCode = INTERRUPTED_EXIT;
      ws.terminate();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);

    ws.on('open', () => {
      if (raw) input.setRawMode(true);
      if (opts.stdin) {
        input.on('data', onData);
        input.once('end', onEnd);
        input.resume();
      }
      if (sized) output.on('resize', onResize);
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        let error = 'Error';
        let message = body || `HTTP ${res.statusCode}`;
        try {
          const parsed = JSON.parse(body) as { error?: string; message?: string };
          error = parsed.error ?? error;
          message = parsed.message ?? message;
        } catch {
          // not the API's error body: keep the text
        }
        failure = new ApiError(res.statusCode ?? 502, error, message);
        ws.terminate();
      });
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        (data[0] === EXEC_STREAM_BYTE.stderr ? process.stderr : output).write(data.subarray(1));
        return;
      }
      let m: ExecMessage;
      try {
        m = JSON.parse(data.toString('utf8')) as ExecMessage;
      } catch {
        return;
      }
      if ('exitCode' in m) exitCode = m.exitCode;
      else if ('error' in m) failure = new ApiError(m.error === 'InstanceNotFound' ? 404 : 502, m.error, m.message);
    });
    ws.on('error', (err) => {
      const code = tlsVerifyCode(err);
      failure ??= code ? new Error(tlsVerifyMessage(client.server, code, client.caSource)) : err;
    });
    ws.on('close', () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      output.removeListener('resize', onResize);
      if (opts.stdin) {
        input.removeListener('data', onData);
        input.removeListener('end', onEnd);
        input.pause();
      }
      if (raw) input.setRawMode(false);
      if (exitCode !== undefined) resolve(exitCode);
      else reject(failure ?? new ApiError(502, 'StreamEnded', 'the server ended the exec without an exit code'));
    });
  });
}
