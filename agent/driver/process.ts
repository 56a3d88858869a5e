// The process driver: runs a task's `command` + `args` as a plain host process, for machines
// without Docker. The image is not used and there is no isolation: ports are bound directly on
// the host (hostPort = containerPort) and resource limits are not enforced.
//
// Each task's process runs under a tiny detached shell wrapper (its own process group) that
// appends the output to two log files (`<task>.log` for stdout, `<task>.err` for stderr, so logs
// keep them apart) and records the exit code in a file, so the process outlives
// an agent restart and a restarted agent can still learn how it ended. A state file per task (pid,
// its /proc start time, task id) lets the agent adopt the process again; the start time guards
// against a recycled pid. This driver only touches files under its own directory.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../../common/log.js';
import type { Task } from '../../common/types.js';
import {
  ExecTimeoutError,
  InvalidSpecError,
  LogsUnsupportedError,
  OutputStream,
  RuntimeError,
  lastLines,
  type Driver,
  type ExecEvent,
  type ExecStreamer,
  type Execer,
  type ExecResult,
  type LogLine,
  type LogQuery,
  type LogReader,
  type ProbeTarget,
  type ExitResult,
  type HostPort,
  type Instance,
  type PullPolicy,
} from './driver.js';
import { LineSplitter } from './output-frames.js';
import { sleep } from '../../common/sleep.js';

export interface ProcessDriverOptions {
  nodeName: string;
  /** The agent's data dir; state, output and exit files live in `<dataDir>/processes/`. */
  dataDir: string;
  logger: Logger;
  /** How often an adopted or stopping process is checked (ms). */
  pollMs?: number;
}

interface ProcessState {
  taskId: string;
  taskName: string;
  serviceName: string;
  slot: number;
  nodeName: string;
  argv: string[];
  env: Record<string, string>;
  hostPorts: HostPort[];
  pid?: number;
  /** Field 22 of /proc/<pid>/stat: identifies the process even if its pid is later reused. */
  procStartTime?: string;
  startedAt?: string;
  /** Set when the driver had to SIGKILL the process group (the wrapper cannot record a code then). */
  killed?: boolean;
}

/** Exit code reported for a process killed by SIGKILL, as a shell would (128 + 9). */
const SIGKILL_EXIT_CODE = 137;
/** How much of the end of the output file is read to find the last lines. */
const TAIL_BYTES = 64 * 1024;

/** Bytes read from a log file per batch of lines. */
const READ_BYTES = 64 * 1024;
/** The file of each output stream, by extension. */
const STREAM_FILE: Record<OutputStream, string> = { stdout: 'log', stderr: 'err' };

// $1 = exit file, $2 = stdout file, $3 = stderr file, then the command. The wrapper forwards
// SIGTERM to the command and waits again if a signal interrupted `wait`; it writes the exit code
// atomically.
const WRAPPER = [
  'exitfile=$1; logfile=$2; errfile=$3; shift 3',
  '"$@" >>"$logfile" 2>>"$errfile" </dev/null &',
  'c=$!',
  `trap 'kill -TERM "$c" 2>/dev/null' TERM`,
  'while :; do wait "$c"; rc=$?; kill -0 "$c" 2>/dev/null || break; done',
  'echo "$rc" > "$exitfile.tmp" && mv "$exitfile.tmp" "$exitfile"',
].join('\n');

export class ProcessDriver implements Driver, ProbeTarget, Execer, LogReader, ExecStreamer {
  readonly name = 'process';
  private readonly dir: string;
  private readonly nodeName: string;
  private readonly log: Logger;
  private readonly pollMs: number;

  constructor(opts: ProcessDriverOptions) {
    this.dir = path.join(opts.dataDir, 'processes');
    this.nodeName = opts.nodeName;
    this.log = opts.logger.child({ driver: 'process' });
    this.pollMs = opts.pollMs ?? 200;
  }

  ensureImage(image: string, _policy?: PullPolicy): Promise<void> {
    this.log.debug({ image }, 'process driver ignores images');
    return Promise.resolve();
  }

  async create(task: Task): Promise<string> {
    const id = task.id;
    if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new InvalidSpecError(`task id "${id}" cannot name a state file`);
    if (!task.spec.command?.length) {
      throw new InvalidSpecError(`the process driver needs spec.command (it runs a host process; the image "${task.spec.image}" is not used)`);
    }
    await mkdir(this.dir, { recursive: true });
    if (await this.readState(id)) return id;
    await this.writeState({
      taskId: id,
      taskName: task.name,
      serviceName: task.serviceName,
      slot: task.slot,
      nodeName: this.nodeName,
      argv: [...task.spec.command, ...(task.spec.args ?? [])],
      env: task.spec.env ?? {},
      hostPorts: (task.spec.ports ?? []).map((p) => ({
        containerPort: p.containerPort,
        hostPort: p.containerPort,
        protocol: p.protocol ?? 'tcp',
      })),
    });
    return id;
  }

  async start(id: string): Promise<void> {
    const st = await this.mustState(id);
    if (st.pid !== undefined) return;
    await rm(this.file(id, 'exit'), { force: true });
    const child = spawn('/bin/sh', ['-c', WRAPPER, 'berth-task', this.file(id, 'exit'), this.file(id, 'log'), this.file(id, 'err'), ...st.argv], {
      detached: true,
      stdio: 'ignore',
      // A container gets only its own environment; PATH is kept so commands resolve as on the host.
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...st.env },
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (err) => reject(new RuntimeError(`starting process for task ${st.taskName}: ${err.message}`)));
      child.once('spawn', () => resolve(child.pid!));
    });
    child.unref();
    st.pid = pid;
    st.procStartTime = procStartTime(pid);
    st.startedAt = new Date().toISOString();
    await this.writeState(st);
    this.log.info({ task: st.taskName, pid }, 'process started');
  }

  async wait(id: string, signal?: AbortSignal): Promise<ExitResult> {
    for (;;) {
      signal?.throwIfAborted();
      const st = await this.readState(id);
      if (!st) return { exitCode: -1, lastOutput: '', error: 'process state was removed' };
      if (st.pid !== undefined && !isAlive(st)) return this.exitOf(st);
      await sleep(this.pollMs, signal);
    }
  }

  async stop(id: string, graceSeconds: number): Promise<void> {
    const st = await this.readState(id);
    if (!st?.pid || !isAlive(st)) return;
    const pid = st.pid;
    signalSafe(pid, 'SIGTERM');
    const deadline = Date.now() + graceSeconds * 1000;
    while (isAlive(st) && Date.now() < deadline) await sleep(this.pollMs);
    if (isAlive(st)) {
      this.log.info({ task: st.taskName, pid, graceSeconds }, 'process ignored SIGTERM for the grace period: killing it');
      st.killed = true;
      await this.writeState(st);
      signalSafe(-pid, 'SIGKILL');
      while (isAlive(st)) await sleep(this.pollMs);
    }
    // Children the command left behind in its process group go too.
    signalSafe(-pid, 'SIGKILL');
  }

  async remove(id: string): Promise<void> {
    const st = await this.readState(id);
    if (st?.pid && isAlive(st)) {
      signalSafe(-st.pid, 'SIGKILL');
      while (isAlive(st)) await sleep(this.pollMs);
    }
    for (const ext of ['json', 'log', 'err', 'exit', 'exit.tmp']) await rm(this.file(id, ext), { force: true });
  }

  async list(): Promise<Instance[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: Instance[] = [];
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      const inst = await this.inspect(n.slice(0, -'.json'.length));
      if (inst) out.push(inst);
    }
    return out;
  }

  async inspect(id: string): Promise<Instance | undefined> {
    const st = await this.readState(id);
    if (!st || st.nodeName !== this.nodeName) return undefined;
    const started = st.pid !== undefined;
    const running = started && isAlive(st);
    const inst: Instance = {
      id,
      taskId: st.taskId,
      taskName: st.taskName,
      serviceName: st.serviceName,
      slot: st.slot,
      running,
      started,
      hostPorts: st.hostPorts,
    };
    if (started && !running) inst.exitCode = (await this.exitOf(st)).exitCode;
    return inst;
  }

  /** Host processes bind their ports on the host itself. */
  async probeAddress(id: string): Promise<string | undefined> {
    const st = await this.readState(id);
    return st && isAlive(st) ? '127.0.0.1' : undefined;
  }

  /**
   * A command beside a task's process: a host process with the task's environment, in its own
   * process group, so a timeout or a cancel kills whatever the command started too.
   */
  private async spawnBeside(id: string, command: string[]): Promise<ChildProcessByStdio<null, Readable, Readable>> {
    const st = await this.mustState(id);
    const [file, ...args] = command;
    if (!file) throw new InvalidSpecError('exec: empty command');
    return spawn(file, args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...st.env },
    });
  }

  /** Runs the command as a host process with the task's environment (there is no container to enter). */
  async exec(id: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    const child = await this.spawnBeside(id, command);
    let output = '';
    const collect = (c: Buffer): void => {
      output = (output + c.toString('utf8')).slice(-TAIL_BYTES);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) signalSafe(-child.pid, 'SIGKILL');
    }, timeoutMs);
    try {
      const exitCode = await new Promise<number>((resolve, reject) => {
        child.once('error', (err) => reject(new RuntimeError(`exec ${command[0]}: ${err.message}`)));
        child.once('close', (code, signal) => resolve(code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : -1)));
      });
      if (timedOut) throw new ExecTimeoutError(command, timeoutMs);
      return { exitCode, output: lastLines(output) };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Reads the two output files. Host processes leave no line times: `since` cannot be answered,
   * and `tail` counts the lines of each stream.
   */
  async *readLogs(id: string, query: LogQuery, signal: AbortSignal): AsyncIterable<LogLine[]> {
    if (query.since) throw new LogsUnsupportedError('the process runtime records no line times: --since is not supported for its tasks');
    const st = await this.mustState(id);
    const readers = await Promise.all(
      Object.values(OutputStream).map(async (stream) => {
        const file = this.file(id, STREAM_FILE[stream]);
        return { stream, file, offset: query.tail === undefined ? 0 : await offsetOfLastLines(file, query.tail), lines: new LineSplitter() };
      }),
    );
    for (;;) {
      signal.throwIfAborted();
      // Whether it still runs is read before the files: what it wrote before ending is then read.
      const running = query.follow && st.pid !== undefined && isAlive(st);
      let read = false;
      for (const r of readers) {
        const chunk = await readFrom(r.file, r.offset);
        if (!chunk.length) continue;
        read = true;
        r.offset += chunk.length;
        const batch = r.lines.push(chunk).map((line) => ({ stream: r.stream, line }));
        if (batch.length) yield batch;
      }
      if (read) continue;
      if (!running) break;
      await sleep(this.pollMs, signal);
      signal?.throwIfAborted();
    }
    for (const r of readers) {
      const rest = r.lines.flush().map((line) => ({ stream: r.stream, line }));
      if (rest.length) yield rest;
    }
  }

  /** Like exec, streaming: a host process with the task's environment, in its own process group. */
  async *execStream(id: string, command: string[], signal: AbortSignal): AsyncIterable<ExecEvent> {
    const child = await this.spawnBeside(id, command);
    const queue: ExecEvent[] = [];
    let wake: (() => void) | undefined;
    let failure: Error | undefined;
    const notify = (): void => {
      wake?.();
      wake = undefined;
    };
    // A few chunks may wait for the reader; beyond that the pipes are paused (the command blocks).
    const HIGH = 16;
    const pipes = [child.stdout, child.stderr];
    const onData = (stream: OutputStream) => (data: Buffer) => {
      queue.push({ kind: 'output', stream, data });
      if (queue.length >= HIGH) for (const p of pipes) p.pause();
      notify();
    };
    child.stdout.on('data', onData(OutputStream.Stdout));
    child.stderr.on('data', onData(OutputStream.Stderr));
    child.once('error', (err) => {
      failure = new RuntimeError(`exec ${command[0]}: ${err.message}`);
      notify();
    });
    let exitCode: number | undefined;
    child.once('close', (code, sig) => {
      exitCode = code ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : -1);
      notify();
    });
    const onAbort = (): void => notify();
    signal.addEventListener('abort', onAbort);
    try {
      for (;;) {
        signal.throwIfAborted();
        const next = queue.shift();
        if (next) {
          if (queue.length < HIGH / 2) for (const p of pipes) p.resume();
          yield next;
          continue;
        }
        if (failure) throw failure;
        if (exitCode !== undefined) {
          yield { kind: 'exit', exitCode };
          return;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (exitCode === undefined && child.pid !== undefined) signalSafe(-child.pid, 'SIGKILL');
    }
  }

  private async exitOf(st: ProcessState): Promise<ExitResult> {
    const lastOutput = await this.tail(st.taskId);
    const text = await readFile(this.file(st.taskId, 'exit'), 'utf8').catch(() => '');
    const code = Number.parseInt(text.trim(), 10);
    if (Number.isInteger(code)) return { exitCode: code, lastOutput };
    if (st.killed) return { exitCode: SIGKILL_EXIT_CODE, lastOutput, error: 'killed (SIGKILL)' };
    return { exitCode: -1, lastOutput, error: 'the process ended without recording its exit code' };
  }

  /** The last lines of stdout, then of stderr (the files do not say how they interleave). */
  private async tail(id: string): Promise<string> {
    const parts = [await this.tailOf(this.file(id, 'log')), await this.tailOf(this.file(id, 'err'))].filter(Boolean);
    return lastLines(parts.join('\n'));
  }

  private async tailOf(file: string): Promise<string> {
    try {
      const fh = await open(file, 'r');
      try {
        const { size } = await fh.stat();
        const len = Math.min(size, TAIL_BYTES);
        const buf = Buffer.alloc(len);
        await fh.read(buf, 0, len, size - len);
        return lastLines(buf.toString('utf8'));
      } finally {
        await fh.close();
      }
    } catch {
      return '';
    }
  }

  private file(id: string, ext: string): string {
    return path.join(this.dir, `${id}.${ext}`);
  }

  private async readState(id: string): Promise<ProcessState | undefined> {
    try {
      return JSON.parse(await readFile(this.file(id, 'json'), 'utf8')) as ProcessState;
    } catch {
      return undefined;
    }
  }

  private async mustState(id: string): Promise<ProcessState> {
    const st = await this.readState(id);
    if (!st) throw new RuntimeError(`no process instance "${id}"`, 404);
    return st;
  }

  private async writeState(st: ProcessState): Promise<void> {
    const tmp = this.file(st.taskId, 'json.tmp');
    await writeFile(tmp, JSON.stringify(st, null, 2));
    await rename(tmp, this.file(st.taskId, 'json'));
  }
}

/** Process state letter and start time from /proc/<pid>/stat; undefined if there is no such pid. */
function readProcStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', startTime: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

function procStartTime(pid: number): string | undefined {
  return readProcStat(pid)?.startTime;
}

/** The recorded process still runs: same pid, same start time, not a zombie. */
function isAlive(st: ProcessState): boolean {
  if (st.pid === undefined) return false;
  const s = readProcStat(st.pid);
  if (!s || s.state === 'Z' || s.state === 'X') return false;
  return st.procStartTime === undefined || s.startTime === st.procStartTime;
}

/** Up to READ_BYTES of a file from `offset` (nothing if it is missing). */
async function readFrom(file: string, offset: number): Promise<Buffer> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const buf = Buffer.alloc(READ_BYTES);
    const { bytesRead } = await fh.read(buf, 0, READ_BYTES, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Where the last `n` complete lines of a file begin (scanning back from its end). */
async function offsetOfLastLines(file: string, n: number): Promise<number> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    return 0;
  }
  if (n <= 0) return size;
  const fh = await open(file, 'r');
  try {
    let end = size;
    let newlines = 0;
    // A final newline ends the last line rather than starting an empty one.
    let skipLast = true;
    while (end > 0) {
      const start = Math.max(0, end - READ_BYTES);
      const buf = Buffer.alloc(end - start);
      await fh.read(buf, 0, buf.length, start);
      for (let i = buf.length - 1; i >= 0; i--) {
        if (buf[i] !== 0x0a) continue;
        if (skipLast && start + i === size - 1) continue;
        if (++newlines === n) return start + i + 1;
      }
      skipLast = false;
      end = start;
    }
    return 0;
  } finally {
    await fh.close();
  }
}

function signalSafe(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

