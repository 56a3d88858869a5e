// The `berth` command line: the kubectl-like client over the REST API, plus the `server` and
// `agent` daemons, which it only launches.
//
// Owns: argument parsing, client configuration, output formatting and exit codes (exit-codes.ts:
// 0 success, 1 failure, 2 usage, 3 unreachable, 4 unauthorized, 5 not found, 6 conflict; one
// `error: ...` line on stderr, never a stack trace). It must not reach into
// the control plane or the agent: it talks to the API over HTTP like any other client, and the
// daemons are imported only when their verb runs.
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { commandWords, findCommand, parseCommandArgs, splitVerb } from './args.js';
import { boolOpt, isDaemon, UsageError } from './command.js';
import { didYouMean } from './did-you-mean.js';
import { errorLines } from './error-lines.js';
import { exitCodeFor } from './exit-codes.js';
import { defaultIo, reportError, runParsed, type CliIo } from './run-client.js';

export { errorLines, type CliIo };
import { commandHelp, rootHelp } from './help.js';
import { COMMANDS } from './registry.js';

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
    return await runParsed(cmd, split.rest, io, out, err, COMMANDS);
  } catch (e) {
    reportError(e, err, io.env.BERTH_DEBUG === '1');
    return exitCodeFor(e);
  }
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
