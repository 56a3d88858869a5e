// `berth completion bash|zsh`: the shell script, generated from the commands' own flags so it
// never drifts from them. Pure: commands in, script text out. Object names are completed live
// with `berth get KIND -o name` (with the --config/--context of the line being typed).
import { GLOBAL_OPTIONS } from './args.js';
import { isDaemon, type Command, type OptionSpec } from './command.js';

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

/** The kinds each verb takes as its first argument (beyond that: names of that kind). */
export const VERB_KINDS: Readonly<Record<string, readonly string[]>> = {
  get: ['services', 'tasks', 'nodes', 'events', 'audit'],
  describe: ['services', 'tasks', 'nodes'],
  delete: ['services'],
  scale: ['services'],
};

/** Fixed first arguments of verbs that have subcommands. */
export const VERB_WORDS: Readonly<Record<string, readonly string[]>> = {
  config: ['create', 'update', 'ls', 'inspect', 'rm', 'get-contexts', 'current-context', 'use-context', 'set-context', 'delete-context', 'view', 'merge', 'add-server'],
  completion: SHELLS,
  node: ['cordon', 'uncordon', 'drain', 'rm'],
  token: ['create', 'list', 'revoke'],
  secret: ['create', 'update', 'ls', 'rm'],
  registry: ['login', 'logout', 'ls'],
  volume: ['ls', 'rm'],
  network: ['create', 'ls', 'rm'],
};

const FILE_FLAGS = ['-f', '--filename', '--config', '--token-file'];

function flagWords(options: Readonly<Record<string, OptionSpec>>): string[] {
  return Object.entries(options).flatMap(([name, o]) => [`--${name}`, ...(o.short ? [`-${o.short}`] : [])]);
}

function valueFlags(commands: readonly Command[]): string[] {
  const all = [GLOBAL_OPTIONS, ...commands.filter((c) => !isDaemon(c)).map((c) => ('options' in c ? c.options : {}))];
  const words = new Set<string>();
  for (const opts of all) {
    for (const [name, o] of Object.entries(opts)) {
      if (o.type !== 'string') continue;
      words.add(`--${name}`);
      if (o.short) words.add(`-${o.short}`);
    }
  }
  return [...words].sort();
}

export function bashCompletion(commands: readonly Command[]): string {
  const verbs = commands.flatMap((c) => [c.name, ...(c.aliases ?? [])]);
  const globals = flagWords(GLOBAL_OPTIONS);
  const flagCases = commands
    .filter((c) => !isDaemon(c))
    .map((c) => `    ${[c.name, ...(c.aliases ?? [])].join('|')}) flags="${[...flagWords('options' in c ? c.options : {}), ...globals].join(' ')}" ;;`);
  const kindCases = Object.entries(VERB_KINDS).map(([v, kinds]) => `    ${v}) kinds="${kinds.join(' ')}" ;;`);
  const wordCases = Object.entries(VERB_WORDS).map(([v, words]) => `    ${v}) kinds="${words.join(' ')}" ;;`);
  return `# bash completion for berth. Load it with:
#   source <(berth completion bash)
# or save it to /etc/bash_completion.d/berth.

_berth_objects() {
  # Names of one kind, from the cluster the command line points at.
  berth "\${_berth_globals[@]}" get "$1" -o name 2>/dev/null | sed 's#^[^/]*/##'
}

_berth() {
  local cur prev verb i w flags kinds
  local -a positionals _berth_globals
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev=""
  [[ $COMP_CWORD -gt 0 ]] && prev="\${COMP_WORDS[COMP_CWORD-1]}"
  verb=""
  positionals=()
  _berth_globals=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in
      --config|--context|--server|--token)
        _berth_globals+=("$w" "\${COMP_WORDS[i+1]}")
        ((i++)) ;;
      ${valueFlags(commands).join('|')})
        ((i++)) ;;
      -*) ;;
      *)
        if [[ -z "$verb" ]]; then verb="$w"; else positionals+=("$w"); fi ;;
    esac
  done

  case "$prev" in
    ${FILE_FLAGS.join('|')})
      COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --context)
      COMPREPLY=($(compgen -W "$(berth config get-contexts -o name 2>/dev/null)" -- "$cur")); return ;;
    -o|--output)
      COMPREPLY=($(compgen -W "table wide json yaml name jsonpath=" -- "$cur")); return ;;
  esac

  if [[ -z "$verb" ]]; then
    COMPREPLY=($(compgen -W "${[...verbs, ...globals].join(' ')}" -- "$cur"))
    return
  fi

  if [[ "$cur" == -* ]]; then
    flags=""
    case "$verb" in
${flagCases.join('\n')}
    esac
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return
  fi

  kinds=""
  case "$verb" in
${[...kindCases, ...wordCases].join('\n')}
  esac
  if [[ \${#positionals[@]} -eq 0 ]]; then
    COMPREPLY=($(compgen -W "$kinds" -- "$cur"))
    return
  fi
  case "$verb" in
    config)
      case "\${positionals[0]}" in
        use-context|delete-context|set-context)
          COMPREPLY=($(compgen -W "$(berth "\${_berth_globals[@]}" config get-contexts -o name 2>/dev/null)" -- "$cur")) ;;
        merge) COMPREPLY=($(compgen -f -- "$cur")) ;;
      esac ;;
    node)
      COMPREPLY=($(compgen -W "$(_berth_objects nodes)" -- "$cur")) ;;
    ${Object.keys(VERB_KINDS).join('|')})
      case "\${positionals[0]}" in
        events|event|ev) ;;
        *) COMPREPLY=($(compgen -W "$(_berth_objects "\${positionals[0]}")" -- "$cur")) ;;
      esac ;;
  esac
}

complete -o default -F _berth berth
`;
}

/** zsh runs the bash function through bashcompinit, so both shells complete the same words. */
export function zshCompletion(commands: readonly Command[]): string {
  return `#compdef berth
# zsh completion for berth. Load it with:
#   source <(berth completion zsh)
# or save it as _berth in a directory of your $fpath.

autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit

${bashCompletion(commands).replace(/^# bash completion[\s\S]*?\n\n/, '')}`;
}

export function completionScript(shell: Shell, commands: readonly Command[]): string {
  return shell === 'bash' ? bashCompletion(commands) : zshCompletion(commands);
}
