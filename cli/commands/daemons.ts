// `berth server` and `berth agent`: the daemons live in their own folders and parse their own
// flags; the client only hands them the arguments after the verb. Imported lazily so client
// verbs never load the control plane or the agent.
import type { DaemonCommand } from '../command.js';

export const serverCommand: DaemonCommand = {
  name: 'server',
  summary: 'Run the control plane (embedded etcd and a local agent unless --no-agent)',
  usage: 'berth server [server flags]',
  description: "The server parses its own flags: run 'berth server --help' for them.",
  examples: ['berth server --data-dir /var/lib/berth', 'berth server --no-agent --listen 127.0.0.1:7070'],
  async daemon(argv) {
    const { runServer } = await import('../../control-plane/cli.js');
    return runServer(argv);
  },
};

export const agentCommand: DaemonCommand = {
  name: 'agent',
  summary: 'Run a node agent that joins a server',
  usage: 'berth agent [agent flags]',
  description: "The agent parses its own flags: run 'berth agent --help' for them.",
  examples: ['berth agent --server 10.0.0.1:7071 --token JOIN_TOKEN --name node-2'],
  async daemon(argv) {
    const { runAgent } = await import('../../agent/cli.js');
    return runAgent(argv);
  },
};
