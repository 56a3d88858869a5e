// The key layout under the store prefix. Every key the control plane writes is built here.

export const keys = {
  services: 'services/',
  service: (name: string) => `services/${name}`,
  tasks: 'tasks/',
  tasksOf: (service: string) => `tasks/${service}/`,
  task: (service: string, id: string) => `tasks/${service}/${id}`,
  nodes: 'nodes/',
  node: (id: string) => `nodes/${id}`,
  events: 'events/',
  /** Hashes of the cluster's admin and join tokens. */
  clusterTokens: 'cluster/tokens',
} as const;
