// The key layout under the store prefix. Every key the control plane writes is built here:
// objects (`keys`) and rollouts (`rolloutKeys`: revisions and rollout states).

export const keys = {
  services: 'services/',
  service: (name: string) => `services/${name}`,
  tasks: 'tasks/',
  tasksOf: (service: string) => `tasks/${service}/`,
  task: (service: string, id: string) => `tasks/${service}/${id}`,
  nodes: 'nodes/',
  node: (id: string) => `nodes/${id}`,
  events: 'events/',
  /** Node subnets claimed (`10.240.3.0-24` -> `{ nodeId }`), see dispatcher/node-network.ts. */
  subnets: 'subnets/',
  subnet: (cidr: string) => `subnets/${cidr.replace('/', '-')}`,
  /** Service virtual addresses claimed (`10.241.0.5` -> `{ service }`), see dispatcher/service-addresses.ts. */
  vips: 'vips/',
  vip: (address: string) => `vips/${address}`,
  /** Networks made with `berth network create` (`default` is not stored). */
  networks: 'networks/',
  network: (name: string) => `networks/${name}`,
  /** Hashes of the cluster's admin and join tokens. */
  clusterTokens: 'cluster/tokens',
} as const;

/** Revisions and rollout states. Revision numbers are zero-padded so a prefix list returns them in order. */
export const rolloutKeys = {
  revisions: (service: string) => `revisions/${service}/`,
  revision: (service: string, n: number) => `revisions/${service}/${String(n).padStart(10, '0')}`,
  updates: 'updates/',
  update: (service: string) => `updates/${service}`,
} as const;

/** The servers of a cluster sharing one etcd (control-plane/leader/): all on each server's lease. */
export const serverKeys = {
  /** The elected leader: `{ name, since }`, created with the leader's lease. */
  leader: 'leader',
  servers: 'servers/',
  server: (name: string) => `servers/${name}`,
  /** Which server holds a node's agent session, and whether its heartbeats still come. */
  sessions: 'sessions/',
  session: (nodeId: string) => `sessions/${nodeId}`,
} as const;
