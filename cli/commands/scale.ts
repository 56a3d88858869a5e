// `berth scale service NAME --replicas N` (or `berth scale service/NAME=N`).
import { stringOpt, UsageError, type ClientCommand } from '../command.js';
import { Kind, parseKindAndNames } from '../resources.js';

export const scaleCommand: ClientCommand = {
  name: 'scale',
  summary: 'Set the number of replicas of a replicated service',
  usage: 'berth scale service NAME --replicas N | berth scale service/NAME=N',
  examples: ['berth scale service web --replicas 5', 'berth scale svc/web=0'],
  options: {
    replicas: { type: 'string', valueName: 'N', description: 'the new number of replicas (0 or more)' },
  },
  async run(ctx, args) {
    const { name, replicas } = parseScaleArgs(args.positionals, stringOpt(args.values, 'replicas'));
    const svc = await ctx.client().scaleService(name, replicas);
    ctx.out(`service/${svc.metadata.name} scaled to ${svc.spec.replicas ?? replicas} replicas`);
    return 0;
  },
};

export function parseScaleArgs(positionals: readonly string[], replicasFlag: string | undefined): { name: string; replicas: number } {
  const { names } = parseKindAndNames(positionals, 'scale', [Kind.Service]);
  if (names.length !== 1) throw new UsageError('scale takes one service NAME', 'scale');
  let name = names[0] ?? '';
  let text = replicasFlag;
  const eq = name.indexOf('=');
  if (eq >= 0) {
    if (text !== undefined) throw new UsageError('give the replicas either as NAME=N or as --replicas N', 'scale');
    text = name.slice(eq + 1);
    name = name.slice(0, eq);
  }
  if (text === undefined) throw new UsageError('missing --replicas N', 'scale');
  if (!/^\d+$/.test(text)) throw new UsageError(`replicas must be a whole number >= 0, not "${text}"`, 'scale');
  return { name, replicas: Number(text) };
}
