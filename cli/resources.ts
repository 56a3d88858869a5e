// The kinds the client names on the command line, with the aliases kubectl users expect.
import { UsageError } from './command.js';
import { didYouMean } from './did-you-mean.js';

export const Kind = { Service: 'service', Task: 'task', Node: 'node' } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

const ALIASES: Record<string, Kind> = {
  service: Kind.Service,
  services: Kind.Service,
  svc: Kind.Service,
  task: Kind.Task,
  tasks: Kind.Task,
  node: Kind.Node,
  nodes: Kind.Node,
  no: Kind.Node,
};

export function parseKind(text: string, verb: string, allowed: readonly Kind[] = Object.values(Kind)): Kind {
  const kind = ALIASES[text.toLowerCase()];
  if (!kind || !allowed.includes(kind)) {
    const names = allowed.map((k) => `${k}s`).join(', ');
    const words = Object.entries(ALIASES).filter(([, k]) => allowed.includes(k)).map(([w]) => w);
    throw new UsageError(`unknown resource type "${text}"${didYouMean(text, words) || `: use one of ${names}`}`, verb);
  }
  return kind;
}

/**
 * `KIND NAME...` or `KIND/NAME`: the resource kind and the names that follow it.
 * Mixing both forms (`svc/web api`) is refused rather than guessed.
 */
export function parseKindAndNames(
  positionals: readonly string[],
  verb: string,
  allowed?: readonly Kind[],
): { kind: Kind; names: string[] } {
  const [first, ...rest] = positionals;
  if (!first) throw new UsageError('missing resource type (services, tasks or nodes)', verb);
  const slash = first.indexOf('/');
  if (slash < 0) return { kind: parseKind(first, verb, allowed), names: rest };
  const kind = parseKind(first.slice(0, slash), verb, allowed);
  const name = first.slice(slash + 1);
  if (!name) throw new UsageError(`missing name after "${first}"`, verb);
  if (rest.length) throw new UsageError(`there is already a name in "${first}": drop "${rest.join(' ')}"`, verb);
  return { kind, names: [name] };
}
