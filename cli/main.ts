// The `berth` command line: the kubectl-like client over the REST API, plus the `server` and
// `agent` daemons, which it only launches.
//
// Owns: argument parsing, client configuration, output formatting and exit codes (exit-codes.ts:
// 0 success, 1 failure, 2 usage, 3 unreachable, 4 unauthorized, 5 not found, 6 conflict; one
// `error: ...` line on stderr, never a stack trace). It must not reach into
// the control plane or the agent: it talks to the API over HTTP like any other client, and the
// daemons are imported only when their verb runs.
import { homedir } from 'node:os';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { BerthError } from '../common/errors.js';
import { ApiClient } from './api-client.js';
import { commandWords, findCommand, parseCommandArgs, splitVerb } from './args.js';
import { boolOpt, isDaemon, stringOpt, UsageError, type ClientCommand, type CommandContext } from './command.js';
import { configLocation, resolveConfig } from './config.js';
import { didYouMean } from './did-you-mean.js';
import { errorLines } from './error-lines.js';
import { exitCodeFor } from './exit-codes.js';

export { errorLines };
import { commandHelp, rootHelp } from './help.js';
import { COMMANDS } from './registry.js';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  homeDir: string;
  now(): number;
  fetch?: typeof fetch;
}

function defaultIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    homeDir: homedir(),
    now: () => Date.now(),
  };
}

/** Runs one command line and returns its exit code. */
export async function main(argv: readonly string[], ioOverrides: Partial<CliIo> = {}): Promise<number> {
  const io = { ...defaultIo(), ...ioOverrides };
  const line = (write: (t: string) => void) => (text: string) => write(text.endsWith('\n') ? text : `${text}\n`);
  const out = line(io.stdout);
  const err = line(io.stderr);
  try {
    const split = splitVerb(argv);
    if (!split.verb || split.verb === 'help') {
      const target = split.verb === 'help' ? splitVerb(split.rest).verb : undefined;
      const parsed = parseCommandArgs(split.rest.filter((a) => a !== target), {});
      if (target) {
        const cmd = findCommand(COMMANDS, target);
        if (!cmd) throw new UsageError(`unknown command "${target}"${didYouMean(target, commandWords(COMMANDS))}`);
        out(commandHelp(cmd));
        return 0;
      }
      if (split.verb || boolOpt(parsed.values, 'help') || !argv.length) {
        out(rootHelp(COMMANDS));
        return 0;
      }
      throw new UsageError('missing command');
    }
    const cmd = findCommand(COMMANDS, split.verb);
    if (!cmd) throw new UsageError(`unknown command "${split.verb}"${didYouMean(split.verb, commandWords(COMMANDS))}`);
    if (isDaemon(cmd)) return await cmd.daemon(split.afterVerb, split.rest);
    return await runParsed(cmd, split.rest, io, out, err);
  } catch (e) {
    reportError(e, err, io.env.BERTH_DEBUG === '1');
    return exitCodeFor(e);
  }
}

/** A client command with its arguments (also `berth server leave|rm`, which the daemon verb hands here). */
export async function runClientCommand(cmd: ClientCommand, rest: readonly string[], ioOverrides: Partial<CliIo> = {}): Promise<number> {
  const io = { ...defaultIo(), ...ioOverrides };
  const line = (write: (t: string) => void) => (text: string) => write(text.endsWith('\n') ? text : `${text}\n`);
  const err = line(io.stderr);
  try {
    return await runParsed(cmd, rest, io, line(io.stdout), err);
  } catch (e) {
    reportError(e, err, io.env.BERTH_DEBUG === '1');
    return exitCodeFor(e);
  }
}

async function runParsed(cmd: ClientCommand, rest: readonly string[], io: CliIo, out: (t: string) => void, err: (t: string) => void): Promise<number> {
  const args = parseCommandArgs(rest, cmd.options, cmd.name);
  if (boolOpt(args.values, 'help')) {
    out(commandHelp(cmd));
    return 0;
  }
  let client: ApiClient | undefined;
  const ctx: CommandContext = {
    out,
    err,
    now: io.now,
    client() {
      if (!client) {
        const cfg = resolveConfig({
          flags: {
            config: stringOpt(args.values, 'config'),
            server: stringOpt(args.values, 'server'),
            token: stringOpt(args.values, 'token'),
            context: stringOpt(args.values, 'context'),
            certificateAuthority: stringOpt(args.values, 'certificate-authority'),
          },
          env: io.env,
          homeDir: io.homeDir,
        });
        client = new ApiClient({
          server: cfg.server,
          ...(cfg.token ? { token: cfg.token } : {}),
          ...(cfg.tokenSource ? { tokenSource: cfg.tokenSource } : {}),
          ...(cfg.ca ? { ca: cfg.ca } : {}),
          ...(cfg.caSource ? { caSource: cfg.caSource } : {}),
          ...(io.fetch ? { fetch: io.fetch } : {}),
        });
      }
      return client;
    },
    commands: () => COMMANDS,
    configFile: () => configLocation({ flags: { config: stringOpt(args.values, 'config') }, env: io.env, homeDir: io.homeDir }),
  };
  return await cmd.run(ctx, args);
}

function reportError(e: unknown, err: (t: string) => void, debug: boolean): void {
  for (const l of errorLines(e)) err(`error: ${l}`);
  if (e instanceof UsageError) err(e.hint);
  // Anything that is not one of our errors is a bug: the stack helps, but only on request.
  if (debug && e instanceof Error && !(e instanceof BerthError) && e.stack) err(e.stack);
}


function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  process.stdout.on('error', () => undefined); // `berth get tasks | head`: a closed pipe is not a failure
  process.exitCode = await main(process.argv.slice(2));
}
