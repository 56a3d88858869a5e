// `berth server` and `berth agent`: the client only hands them the arguments after the verb.
// The agent parses its own flags (agent/cli.ts); the server is composed in cli/daemons/ (the
// control plane and a local agent). Imported lazily so client verbs never load either.
import type { DaemonCommand } from '../command.js';

export const serverCommand: DaemonCommand = {
  name: 'server',
  summary: 'Run the control plane (embedded etcd and a local agent unless --no-agent)',
  usage: 'berth server [server flags] | berth server leave | berth server rm NAME',
  description: "The server parses its own flags: run 'berth server --help' for them. 'berth server leave' and\n'berth server rm NAME' are client commands: 'berth server leave --help'.",
  examples: ['berth server --data-dir /var/lib/berth', 'berth server --no-agent --listen 127.0.0.1:7070'],
  async daemon(argv, all = argv) {
    if (argv[0] === 'leave' || argv[0] === 'rm') {
      const [{ runClientCommand }, { serverAdminCommand }] = await Promise.all([import('../run-client.js'), import('./server-admin.js')]);
      return runClientCommand(serverAdminCommand, all);
    }
    const { runServer } = await import('../daemons/server.js');
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
