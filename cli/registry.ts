// Every verb `berth` knows, in the order `berth --help` lists them. A new verb is one file in
// commands/ and one line here.
import type { Command } from './command.js';
import { applyCommand } from './commands/apply.js';
import { completionCommand } from './commands/completion.js';
import { configCommand } from './commands/config.js';
import { agentCommand, serverCommand } from './commands/daemons.js';
import { deleteCommand } from './commands/delete.js';
import { describeCommand } from './commands/describe.js';
import { diffCommand } from './commands/diff.js';
import { execCommand } from './commands/exec.js';
import { getCommand } from './commands/get.js';
import { logsCommand } from './commands/logs.js';
import { nodeCommand } from './commands/node.js';
import { scaleCommand } from './commands/scale.js';
import { stackCommand } from './commands/stack.js';
import { tokenCommand } from './commands/token.js';
import { rolloutCommand } from './commands/rollout.js';
import { versionCommand } from './commands/version.js';
import { secretCommand } from './commands/secret.js';
import { registryCommand } from './commands/registry.js';
import { networkCommand } from './commands/network.js';
import { volumeCommand } from './commands/volume.js';
import { topCommand } from './commands/top.js';
import { clusterCommand } from './commands/cluster.js';

export const COMMANDS: readonly Command[] = [
  applyCommand,
  diffCommand,
  getCommand,
  describeCommand,
  deleteCommand,
  scaleCommand,
  rolloutCommand,
  stackCommand,
  logsCommand,
  execCommand,
  nodeCommand,
  secretCommand,
  registryCommand,
  volumeCommand,
  topCommand,
  networkCommand,
  tokenCommand,
  clusterCommand,
  serverCommand,
  agentCommand,
  configCommand,
  completionCommand,
  versionCommand,
];
