// `berth completion bash|zsh`: prints the shell completion script.
import { CliError, UsageError, type ClientCommand } from '../command.js';
import { completionScript, SHELLS, type Shell } from '../completion.js';
import { didYouMean } from '../did-you-mean.js';

export const completionCommand: ClientCommand = {
  name: 'completion',
  summary: 'Print a shell completion script (bash or zsh)',
  usage: 'berth completion bash|zsh',
  description:
    'Completes verbs, kinds, flags, config subcommands and context names, and the names of services,\n' +
    'tasks and nodes (asked from the cluster with "berth get KIND -o name").',
  examples: ['source <(berth completion bash)', 'berth completion zsh > "${fpath[1]}/_berth"'],
  options: {},
  run(ctx, args) {
    const [shell, ...extra] = args.positionals;
    if (!shell) throw new UsageError(`completion needs a shell: ${SHELLS.join(' or ')}`, 'completion');
    if (extra.length) throw new UsageError('completion takes one shell', 'completion');
    if (!SHELLS.includes(shell as Shell)) {
      throw new UsageError(`unsupported shell "${shell}"${didYouMean(shell, SHELLS) || `: use ${SHELLS.join(' or ')}`}`, 'completion');
    }
    const commands = ctx.commands?.();
    if (!commands) throw new CliError('completion: the command list is not available');
    ctx.out(completionScript(shell as Shell, commands));
    return Promise.resolve(0);
  },
};
