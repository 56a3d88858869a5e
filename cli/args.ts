// Command-line parsing on node:util parseArgs: find the verb, then parse the verb's own flags
// together with the global ones, which may come before or after the verb.
import { parseArgs } from 'node:util';
import { UsageError, type Command, type OptionSpec, type ParsedArgs } from './command.js';
import { didYouMean } from './did-you-mean.js';

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  config: { type: 'string', valueName: 'FILE', description: 'config file (default $BERTH_CONFIG, then ~/.berth/config)' },
  server: { type: 'string', valueName: 'URL', description: 'API server URL, overrides the config file' },
  token: { type: 'string', valueName: 'TOKEN', description: 'bearer token, overrides the config file' },
  context: { type: 'string', valueName: 'NAME', description: "use this context of the config file instead of its current-context" },
  'certificate-authority': { type: 'string', valueName: 'FILE', description: "the cluster CA's certificate (PEM) to verify the server with, overrides the config file (default $BERTH_CA_FILE)" },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};

export interface SplitArgv {
  verb?: string;
  /** Everything but the verb, in order. */
  rest: string[];
  /** The arguments after the verb only (what a daemon verb parses itself). */
  afterVerb: string[];
}

/** The verb is the first word that is neither a flag nor the value of a global flag. */
export function splitVerb(argv: readonly string[]): SplitArgv {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--') break;
    if (a.startsWith('-')) {
      const name = a.replace(/^--?/, '');
      if (!a.includes('=') && GLOBAL_OPTIONS[name]?.type === 'string') i++;
      continue;
    }
    return { verb: a, rest: [...argv.slice(0, i), ...argv.slice(i + 1)], afterVerb: argv.slice(i + 1) };
  }
  return { rest: [...argv], afterVerb: [] };
}

export function parseCommandArgs(argv: readonly string[], options: Readonly<Record<string, OptionSpec>>, verb?: string): ParsedArgs {
  const merged = { ...GLOBAL_OPTIONS, ...options };
  const config = Object.fromEntries(
    Object.entries(merged).map(([name, o]) => [
      name,
      { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) },
    ]),
  );
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: config, allowPositionals: true, strict: true });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (err) {
    throw new UsageError(explainParseError(err as Error & { code?: string }, merged), verb);
  }
}

function explainParseError(err: Error & { code?: string }, options: Readonly<Record<string, OptionSpec>> = {}): string {
  const quoted = /'([^']+)'/.exec(err.message)?.[1] ?? '';
  // parseArgs quotes a flag as `-o, --output <value>`: keep just `-o/--output`.
  const flag = quoted.replace(/ <value>$/, '').replace(', ', '/');
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag "${quoted}"${didYouMean(quoted, flagSpellings(quoted, options))}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /does not take an argument/.test(err.message) ? `flag ${flag} takes no value` : `flag ${flag} needs a value`;
    default:
      return err.message.split('\n')[0] ?? err.message;
  }
}

export function findCommand(commands: readonly Command[], verb: string): Command | undefined {
  return commands.find((c) => c.name === verb || c.aliases?.includes(verb));
}

/** Long flags only: every one-letter flag is one edit from any other, so no guess there. */
function flagSpellings(typed: string, options: Readonly<Record<string, OptionSpec>>): string[] {
  return typed.startsWith('--') ? Object.keys(options).map((n) => `--${n}`) : [];
}

/** The verbs and aliases, for a suggestion when the user mistypes one. */
export function commandWords(commands: readonly Command[]): string[] {
  return commands.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
}
