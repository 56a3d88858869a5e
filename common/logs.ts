// What `berth logs` and `berth exec` carry from a node to the user, the same in the agent, the
// control plane, the API's NDJSON responses and the CLI.

export const OutputStream = { Stdout: 'stdout', Stderr: 'stderr' } as const;
export type OutputStream = (typeof OutputStream)[keyof typeof OutputStream];

/** One line of `GET /v1/tasks/:ref/logs` (and of a service's logs): NDJSON, one object per line. */
export interface LogRecord {
  /** Task name, e.g. `web.3.x7k2q`. */
  task: string;
  taskId: string;
  stream: OutputStream;
  /** RFC 3339 time the runtime recorded the line at; absent when the runtime keeps none. */
  time?: string;
  line: string;
}

/** Something the user should know that is not a line of output (a task restarted, lines dropped). */
export interface LogNotice {
  notice: string;
  task?: string;
}

/** A failure that ends a log stream after it started (the status line is already sent). */
export interface StreamFailure {
  error: string;
  message: string;
}

export type LogsMessage = LogRecord | LogNotice | StreamFailure;

/** One line of `POST /v1/tasks/:ref/exec`: output (base64, as the command wrote it), then the exit. */
export type ExecMessage = { stream: OutputStream; data: string } | { exitCode: number } | StreamFailure;

/**
 * Interactive exec: a WebSocket on `GET /v1/tasks/:ref/exec` (query: `command` once per
 * argument, `tty=1`, `stdin=1`, `cols`, `rows`). Binary frames from the server are output, their
 * first byte the stream (EXEC_STREAM_BYTE); binary frames from the client are stdin. Text frames
 * are JSON: ExecControl from the client, and one last ExecMessage (exit code or failure) from the
 * server before it closes.
 */
export const EXEC_STREAM_BYTE: Record<OutputStream, number> = { stdout: 1, stderr: 2 };
export type ExecControl = { resize: { cols: number; rows: number } } | { closeStdin: true };
