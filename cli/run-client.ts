// Running one client command with its arguments: the client configuration it calls the API
// with, --help, and the error line and exit code of a failure. main.ts runs every verb through
// it; `berth server leave|rm` (client commands under the daemon's verb) come here directly.
import { homedir } from 'node:os';
import { BerthError } from '../common/errors.js';
import { ApiClient } from './api-client.js';
import { parseCommandArgs } from './args.js';
import { boolOpt, stringOpt, UsageError, type ClientCommand, type Command, type CommandContext } from './command.js';
import { configLocation, resolveConfig } from './config.js';
import { errorLines } from './error-lines.js';
import { exitCodeFor } from './exit-codes.js';
import { commandHelp } from './help.js';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  homeDir: string;
  now(): number;
  fetch?: typeof fetch;
}

export function defaultIo(): CliIo {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    homeDir: homedir(),
    now: () => Date.now(),
  };
}

/** A client command with its arguments (also `berth server leave|rm`, which the daemon verb hands here). */
export async function runClientCommand(cmd: ClientCommand, rest: readonly string[], ioOverrides: Partial<CliIo> = {}, commands: readonly Command[] = [cmd]): Promise<number> {
  const io = { ...defaultIo(), ...ioOverrides };
  const line = (write: (t: string) => void) => (text: string) => write(text.endsWith('\n') ? text : `${text}\n`);
  const err = line(io.stderr);
  try {
    return await runParsed(cmd, rest, io, line(io.stdout), err, commands);
  } catch (e) {
    reportError(e, err, io.env.BERTH_DEBUG === '1');
    return exitCodeFor(e);
  }
}

export async function runParsed(
  cmd: ClientCommand,
  rest: readonly string[],
  io: CliIo,
  out: (t: string) => void,
  err: (t: string) => void,
  commands: readonly Command[],
): Promise<number> {
  const args = parseCommandArgs(rest, cmd.options, cmd.name);
  if (boolOpt(args.values, 'help')) {
    out(commandHelp(cmd));
    return 0;
  }
  let client: ApiClient | undefined;
  const ctx: CommandContext = {
    out,
    err,
    now: () => io.now(),
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
          ...(cfg.servers ? { servers: cfg.servers } : {}),
          ...(cfg.token ? { token: cfg.token } : {}),
          ...(cfg.tokenSource ? { tokenSource: cfg.tokenSource } : {}),
          ...(cfg.ca ? { ca: cfg.ca } : {}),
          ...(cfg.caSource ? { caSource: cfg.caSource } : {}),
          ...(io.fetch ? { fetch: io.fetch } : {}),
        });
      }
      return client;
    },
    commands: () => commands,
    configFile: () => configLocation({ flags: { config: stringOpt(args.values, 'config') }, env: io.env, homeDir: io.homeDir }),
  };
  return await cmd.run(ctx, args);
}


export function reportError(e: unknown, err: (t: string) => void, debug: boolean): void {
  for (const l of errorLines(e)) err(`error: ${l}`);
  if (e instanceof UsageError) err(e.hint);
  // Anything that is not one of our errors is a bug: the stack helps, but only on request.
  if (debug && e instanceof Error && !(e instanceof BerthError) && e.stack) err(e.stack);
}
