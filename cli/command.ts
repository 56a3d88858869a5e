// The shape every `berth <verb>` has: its help text, its flags, and a run function that gets a
// context (output streams, a lazily configured API client, the clock) instead of touching
// process globals, so verbs can be unit-tested and new ones added as one small file each.
import { BerthError } from '../common/errors.js';
import type { ApiClient } from './api-client.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in help after the flag, e.g. `FILE`. */
  valueName?: string;
  description: string;
}

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedArgs {
  values: OptionValues;
  positionals: string[];
}

export interface CommandContext {
  /** Writes text to stdout; a trailing newline is added when missing. */
  out(text: string): void;
  /** Writes text to stderr; a trailing newline is added when missing. */
  err(text: string): void;
  /** The API client built from flags and config; throws a clear error when unconfigured. */
  client(): ApiClient;
  /** Milliseconds since the epoch; injected so ages are testable. */
  now(): number;
  /** The config file in use (`--config`, `$BERTH_CONFIG`, `~/.berth/config`), for `berth config`. */
  configFile?(): { path: string; explicit: boolean; origin: string };
  /** Every verb (for `berth completion`), handed in so no verb imports the registry. */
  commands?(): readonly Command[];
}

interface CommandBase {
  name: string;
  aliases?: readonly string[];
  /** One line for `berth --help`. */
  summary: string;
  /** e.g. `berth get KIND [NAME] [flags]`. */
  usage: string;
  /** Extra paragraphs for `berth <verb> --help`. */
  description?: string;
  examples: readonly string[];
}

/** A client verb: talks to the API, parsed here with the global flags. */
export interface ClientCommand extends CommandBase {
  options: Readonly<Record<string, OptionSpec>>;
  run(ctx: CommandContext, args: ParsedArgs): Promise<number>;
}

/**
 * A daemon (`server`, `agent`): parses its own flags, so it gets the raw arguments after the
 * verb and none of the client's global flags.
 */
export interface DaemonCommand extends CommandBase {
  /** `all`: every argument but the verb (global flags before it too), for client sub-commands. */
  daemon(argv: string[], all?: readonly string[]): Promise<number>;
}

export type Command = ClientCommand | DaemonCommand;

export function isDaemon(c: Command): c is DaemonCommand {
  return 'daemon' in c;
}

/** A failure the user caused or must act on: printed as one `error: ...` line, exit 1 (exit-codes.ts). */
export class CliError extends BerthError {
  override readonly code: string = 'CLI';
}

/** Wrong arguments: printed with a pointer to the verb's help, exit 2. */
export class UsageError extends CliError {
  override readonly code: string = 'USAGE';
  constructor(
    message: string,
    readonly verb?: string,
  ) {
    super(message);
  }

  get hint(): string {
    return `See 'berth ${this.verb ? `${this.verb} ` : ''}--help' for usage.`;
  }
}

export function stringOpt(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function stringsOpt(values: OptionValues, name: string): string[] {
  const v = values[name];
  if (Array.isArray(v)) return v;
  return typeof v === 'string' ? [v] : [];
}

export function boolOpt(values: OptionValues, name: string): boolean {
  return values[name] === true;
}
