// Help text, generated from the commands' own descriptions so it cannot drift from the flags.
import { GLOBAL_OPTIONS } from './args.js';
import { isDaemon, type Command, type OptionSpec } from './command.js';

export function rootHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'berth: run containers across a cluster of nodes.',
    '',
    'Usage:',
    '  berth <command> [flags]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}   ${c.summary}`),
    '',
    'Global flags:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    "Run 'berth <command> --help' for a command's flags and examples.",
  ].join('\n');
}

export function commandHelp(c: Command): string {
  const lines = [c.summary, '', 'Usage:', `  ${c.usage}`];
  if (c.aliases?.length) lines.push('', `Aliases: ${[c.name, ...c.aliases].join(', ')}`);
  if (c.description) lines.push('', c.description);
  if (!isDaemon(c)) {
    if (Object.keys(c.options).length) lines.push('', 'Flags:', ...optionLines(c.options));
    lines.push('', 'Global flags:', ...optionLines(GLOBAL_OPTIONS));
  }
  if (c.examples.length) lines.push('', 'Examples:', ...c.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

function optionLines(options: Readonly<Record<string, OptionSpec>>): string[] {
  const left = Object.entries(options).map(([name, o]) => {
    const short = o.short ? `-${o.short}, ` : '    ';
    return `${short}--${name}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
  });
  const width = Math.max(...left.map((l) => l.length));
  return Object.values(options).map((o, i) => `  ${(left[i] ?? '').padEnd(width)}   ${o.description}`);
}
